"""node oidc-provider as the benchmark's reference: installed from npm into the run's temporary folder,
started with the same number of processes as gunicorn's workers, stopped by its PID.

bench/reference/server.mjs says what it serves. Its clients are created here with random secrets;
``token`` asks for an ES256 JWT for an API (as this project's tokens are), ``introspect`` looks up an
opaque token in Redis (oidc-provider does not introspect its JWTs).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
API = "https://api.bench.invalid"
READY_SECONDS = 30.0


def install(workdir: Path) -> Path:
    """npm install of the pinned packages into a fresh folder; returns that folder."""
    folder = workdir / "reference"
    folder.mkdir()
    for name in ("package.json", "server.mjs"):
        shutil.copy(REFERENCE_DIR / name, folder / name)
    print("installing node oidc-provider with npm ...", flush=True)
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: the reference needs Node.js 20 or later with npm")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=folder, check=True, timeout=600)
    return folder


def child_pids(pid: int) -> list[int]:
    """The processes a server's master (gunicorn's, node's primary) started: its workers."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class NodeReference:
    """The reference server, shaped like bench/run.py's Gunicorn: url, cpu(), worker_pids(), stop()."""

    def __init__(self, folder: Path, port: int, workers: int, redis_url: str, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.m2m = ("m2m", secrets.token_urlsafe(32))
        self.resource_server = ("resource-server", secrets.token_urlsafe(32))
        env = {
            **os.environ,
            "PORT": str(port),
            "WORKERS": str(workers),
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": f"idp-bench-reference-{secrets.token_hex(4)}:",
            "M2M_CLIENT_ID": self.m2m[0],
            "M2M_CLIENT_SECRET": self.m2m[1],
            "RS_CLIENT_ID": self.resource_server[0],
            "RS_CLIENT_SECRET": self.resource_server[1],
            "NODE_ENV": "production",
        }
        self.log = log
        self._log_file = log.open("wb")
        node = shutil.which("node") or "node"
        self.process = subprocess.Popen(
            [node, "server.mjs"], cwd=folder, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self.workers = workers

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the reference exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/jwks", timeout=2) as response:
                    if response.status == 200 and len(self.worker_pids()) == self.workers:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the reference is not ready after {READY_SECONDS:.0f}s:\n{self.log.read_text()[-4000:]}")

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the primary stops its workers (server.mjs)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in self.worker_pids():
                    os.kill(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()
