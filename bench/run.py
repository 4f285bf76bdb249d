"""Benchmark the protocol endpoints against docs/architecture.md's performance budget.

    .venv/bin/python bench/run.py                          # 2 sync workers, c=16 and c=64, 10 s each
    .venv/bin/python bench/run.py --worker-class sync --worker-class gthread --threads 4 --repeat 3

What it does, all on this machine and all undone at the end:
  1. installs ``wrk`` with apt-get when it is missing (needs root);
  2. creates a fresh PostgreSQL database ``idp_bench_<random>`` (dropped at the end), runs
     ``flask db upgrade`` on it, then ``flask clients create`` for a client-credentials client and
     a second confidential client acting as the resource server that introspects;
  3. for each worker class: serves bench/bare_app.py, then the IdP (wsgi:app), each under gunicorn
     with the same settings on a free loopback port, Redis behind the rate limiter;
  4. drives each scenario with wrk at each concurrency after a short warm-up, and prints requests/s,
     p50/p99 latency, errors (socket errors and non-2xx/3xx answers), the workers' peak RSS
     (VmHWM), the ratio to the bare route, where the CPU went, and the budget's target beside it.

Every process it starts is stopped by its PID. wrk runs on the same two cores as the server, and
so does PostgreSQL: the ``gen`` and ``db`` columns show their share, ``other`` what the rest of the
machine took meanwhile (other people's test runs disturb the figures; ``--repeat`` keeps the best).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = PROJECT_ROOT / "bench"
VENV_BIN = Path(sys.prefix) / "bin"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
READY_SECONDS = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
DISTURBED = 0.25  # other processes using more than a quarter of a core during a row

# docs/architecture.md, "Performance budget".
MIN_RPS = {"token": 1500, "introspect": 2000, "discovery": 4000, "jwks": 4000}
MAX_P99_MS = {("token", 16): 50.0}
MAX_RSS_MB = 150.0

WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def lua(self) -> str:
        lines = [f'wrk.method = "{self.method}"']
        if self.body is not None:
            lines.append(f"wrk.body = {json.dumps(self.body)}")
        for name, value in self.headers.items():
            lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
        return "\n".join(lines) + "\n" + WRK_REPORT


@dataclass
class Result:
    scenario: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float
    server_cpu: float  # cores used by gunicorn (master and workers)
    db_cpu: float  # by the PostgreSQL backends serving the benchmark database
    gen_cpu: float  # by wrk
    other_cpu: float  # by everything else on the machine


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU of each process that still exists (fields 14 and 15 of /proc/<pid>/stat)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return seconds


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (first line of /proc/stat less idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing and this is not root: install it with `apt-get install wrk`.")
    print("installing wrk with apt-get ...", flush=True)
    quiet = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    }
    if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, **quiet)
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get ran but wrk is still missing")
    return found


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "flask"), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_client(env: dict[str, str], name: str) -> tuple[str, str]:
    output = flask_cli(
        env, "clients", "create", "--name", name, "--type", "confidential", "--grant", "client_credentials", "--scope", "api"
    )
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return data["client_id"], data["client_secret"]


def basic_auth(client_id: str, secret: str) -> str:
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class BenchDatabase:
    """A fresh PostgreSQL database for one run, and the CPU its backends use."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        url = make_url(admin_url)
        self.name = f"idp_bench_{secrets.token_hex(6)}"
        self.url = url.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _execute(self, sql: str, **params) -> list:
        from sqlalchemy import text

        with self._admin.connect() as connection:
            result = connection.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    def create(self) -> None:
        self._execute(f'CREATE DATABASE "{self.name}"')
        print(f"database {self.name} created", flush=True)

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()
        print(f"database {self.name} dropped", flush=True)

    def backend_cpu(self) -> dict[int, float]:
        rows = self._execute("SELECT pid FROM pg_stat_activity WHERE datname = :name", name=self.name)
        return process_cpu_seconds(row[0] for row in rows)


@contextmanager
def bench_database(admin_url: str) -> Iterator[BenchDatabase]:
    database = BenchDatabase(admin_url)
    database.create()
    try:
        yield database
    finally:
        database.drop()


class Gunicorn:
    """One gunicorn master we started, its workers found through /proc; stopped by its PID only."""

    def __init__(self, app: str, chdir: Path, env: dict[str, str], args: argparse.Namespace, worker_class: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(args.workers)]
        command += ["--worker-class", worker_class]
        if worker_class == "gthread":
            command += ["--threads", str(args.threads)]
        if args.reuse_port:
            command += ["--reuse-port"]
        command += ["--backlog", "2048", "--no-control-socket", "--graceful-timeout", "5", "--chdir", str(chdir), app]
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(command, cwd=chdir, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200 and self.worker_pids():
                        return
            except (urllib.error.URLError, OSError):
                pass
            try:
                self.process.wait(timeout=0.1)  # the pause between polls doubles as a death check
            except subprocess.TimeoutExpired:
                pass
        raise RuntimeError(f"gunicorn not ready after {READY_SECONDS:.0f}s:\n{self.log.read_text()[-4000:]}")

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def worker_peak_rss_mb(self) -> dict[int, float]:
        """VmHWM (peak resident set) of each current worker, in MiB."""
        peaks = {}
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) / 1024
        return peaks

    def cpu(self) -> dict[int, float]:
        return process_cpu_seconds([self.process.pid, *self.worker_pids()])

    def error_lines(self) -> list[str]:
        markers = ("Traceback", '"level": "ERROR"', '"level": "CRITICAL"', "[ERROR]", "[CRITICAL]", "WORKER TIMEOUT")
        return [line for line in self.log.read_text(errors="replace").splitlines() if any(m in line for m in markers)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM to the master's PID; gunicorn stops its own workers
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


# --- load ------------------------------------------------------------------------------------


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots; a process that appeared in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def run_wrk(
    wrk: str,
    server: Gunicorn,
    database: BenchDatabase | None,
    scenario: Scenario,
    concurrency: int,
    seconds: float,
    args,
    workdir: Path,
) -> Result:
    script = workdir / f"{scenario.name}.lua"
    script.write_text(scenario.lua())
    command = [wrk, "-t", str(min(args.wrk_threads, concurrency)), "-c", str(concurrency), "-d", f"{seconds:g}s"]
    command += ["--timeout", "5s", "-s", str(script), server.url + scenario.path]
    server_before, db_before = server.cpu(), database.backend_cpu() if database else {}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = machine_busy_seconds()
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    machine_cpu = machine_busy_seconds() - machine_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = used(server_before, server.cpu())
    db_cpu = used(db_before, database.backend_cpu()) if database else 0.0
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    line = next((text for text in result.stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"no report from wrk:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    elapsed = data["duration_us"] / 1e6
    gen_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return Result(
        scenario=scenario.name,
        concurrency=concurrency,
        rps=data["requests"] / elapsed,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=sum(data[k] for k in ("connect", "read", "write", "status", "timeout")),
        rss_mb=max(server.worker_peak_rss_mb().values(), default=0.0),
        server_cpu=server_cpu / elapsed,
        db_cpu=db_cpu / elapsed,
        gen_cpu=gen_cpu / elapsed,
        other_cpu=max(machine_cpu - server_cpu - db_cpu - gen_cpu, 0.0) / elapsed,
    )


def http(server: Gunicorn, scenario: Scenario) -> bytes:
    request = urllib.request.Request(
        server.url + scenario.path,
        data=scenario.body.encode() if scenario.body is not None else None,
        headers=scenario.headers,
        method=scenario.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{scenario.name}: HTTP {error.code}: {error.read()[:500]!r}") from None


def check_answer(server: Gunicorn, scenario: Scenario) -> None:
    """One request before the load: a scenario that only produces errors must fail loudly, not be timed."""
    body = http(server, scenario)
    if scenario.name == "introspect" and not json.loads(body).get("active"):
        raise RuntimeError(f"introspect: the token is not active: {body[:500]!r}")


def bench_server(wrk: str, server: Gunicorn, database, scenarios: list[Scenario], args, workdir: Path) -> list[Result]:
    results = []
    for scenario in scenarios:
        check_answer(server, scenario)
        run_wrk(wrk, server, database, scenario, args.concurrency[0], args.warmup, args, workdir)  # warm-up, not kept
        for concurrency in args.concurrency:
            runs = [
                run_wrk(wrk, server, database, scenario, concurrency, args.duration, args, workdir) for _ in range(args.repeat)
            ]
            best = max(runs, key=lambda r: r.rps)
            tries = f" (best of {', '.join(f'{r.rps:,.0f}' for r in runs)})" if args.repeat > 1 else ""
            print(f"  {scenario.name} c={concurrency}: {best.rps:,.0f} req/s{tries}", flush=True)
            results.append(best)
    return results


# --- report ----------------------------------------------------------------------------------


def target_text(result: Result) -> tuple[str, bool | None]:
    parts, ok = [], None
    minimum = MIN_RPS.get(result.scenario)
    if minimum is not None:
        parts.append(f">={minimum:,}/s")
        ok = result.rps >= minimum
    p99 = MAX_P99_MS.get((result.scenario, result.concurrency))
    if p99 is not None:
        parts.append(f"p99<={p99:g}ms")
        ok = bool(ok) and result.p99_ms <= p99
    if result.errors:
        ok = False
    return " ".join(parts) or "-", ok


def print_table(title: str, results: list[Result], bare: dict[int, float]) -> None:
    header = (
        f"{'scenario':<11}{'c':>4}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'RSS MB':>8}{'x bare':>7}"
        f"{'srv':>6}{'db':>5}{'gen':>5}{'other':>6}  target"
    )
    print(f"\n{title}\n{header}\n{'-' * (len(header) + 22)}")
    for r in results:
        ratio = r.rps / bare[r.concurrency] if bare.get(r.concurrency) else float("nan")
        target, ok = target_text(r)
        verdict = "" if ok is None else (" ok" if ok else " MISSED")
        flags = "!" if r.rss_mb > MAX_RSS_MB else " "
        disturbed = "  (disturbed)" if r.other_cpu > DISTURBED else ""
        print(
            f"{r.scenario:<11}{r.concurrency:>4}{r.rps:>8,.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{r.errors:>7}"
            f"{r.rss_mb:>7.1f}{flags}{ratio:>7.2f}{r.server_cpu * 100:>5.0f}%{r.db_cpu * 100:>4.0f}%"
            f"{r.gen_cpu * 100:>4.0f}%{r.other_cpu * 100:>5.0f}%  {target}{verdict}{disturbed}",
            flush=True,
        )


def server_env(database_url: str, redis_url: str, instance_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update(
        FLASK_APP="wsgi",
        IDP_ENV="production",
        IDP_ISSUER="https://idp.bench.invalid",  # only a name inside the tokens here; no request goes to it
        IDP_DATABASE_URL=database_url,
        IDP_REDIS_URL=redis_url,
        IDP_SECRET_KEY=secrets.token_urlsafe(48),
        IDP_INSTANCE_DIR=str(instance_dir),
        IDP_LOG_JSON="1",
        # The limiter stays on, with Redis, as in production. The endpoints measured here are exempt
        # from it (token, introspection, discovery, JWKS) and there are no default limits, so nothing
        # is throttled; a run-specific key prefix keeps any counters apart from others on this Redis.
        IDP_RATELIMIT_KEY_PREFIX=f"idp-bench-{secrets.token_hex(4)}",
    )
    return env


def _interrupted(signum, frame) -> None:
    """SIGTERM ends the run like Ctrl-C: through the finally blocks that stop servers and drop the database."""
    raise KeyboardInterrupt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker-class", action="append", choices=["sync", "gthread"], help="repeat to compare (default: sync)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--no-reuse-port",
        dest="reuse_port",
        action="store_false",
        help="share one listening socket (default: a socket per worker, SO_REUSEPORT, as .ci/serve runs)",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of untimed load before each scenario")
    parser.add_argument("--repeat", type=int, default=1, help="measure each row this often and keep the best")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (one is plenty and leaves the server more CPU)")
    parser.add_argument("--scenario", action="append", choices=["token", "introspect", "discovery", "jwks"], help="default: all")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL to connect to for CREATE DATABASE")
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory with the server logs")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    worker_classes = args.worker_class or ["sync"]
    wanted = args.scenario or ["token", "introspect", "discovery", "jwks"]
    signal.signal(signal.SIGTERM, _interrupted)
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    summary = []
    try:
        with bench_database(args.pg) as database:
            instance_dir = workdir / "instance"
            instance_dir.mkdir()
            env = server_env(database.url, args.redis, instance_dir)
            flask_cli(env, "db", "upgrade")
            machine = basic_auth(*create_client(env, "bench-m2m"))
            resource_server = basic_auth(*create_client(env, "bench-resource-server"))
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            for worker_class in worker_classes:
                label = f"{args.workers} {worker_class} workers" + (
                    f" x {args.threads} threads" if worker_class == "gthread" else ""
                )
                print(f"\n== {label}", flush=True)
                bare_server = Gunicorn("bare_app:app", BENCH_DIR, env, args, worker_class, workdir / f"bare-{worker_class}.log")
                try:
                    bare_server.wait_ready("/bare")
                    bare_results = bench_server(wrk, bare_server, None, [Scenario("bare", "/bare")], args, workdir)
                    bare_rss = bare_server.worker_peak_rss_mb()
                finally:
                    bare_server.stop()

                idp = Gunicorn("wsgi:app", PROJECT_ROOT, env, args, worker_class, workdir / f"idp-{worker_class}.log")
                try:
                    idp.wait_ready("/healthz")
                    cc = Scenario(
                        "token", "/oauth/token", "POST", "grant_type=client_credentials", {**form, "Authorization": machine}
                    )
                    token = json.loads(http(idp, cc))["access_token"]  # 10 minutes of life: enough for one worker class
                    scenarios = {
                        "token": cc,
                        "introspect": Scenario(
                            "introspect",
                            "/oauth/introspect",
                            "POST",
                            f"token={token}&token_type_hint=access_token",
                            {**form, "Authorization": resource_server},
                        ),
                        "discovery": Scenario("discovery", "/.well-known/openid-configuration"),
                        "jwks": Scenario("jwks", "/oauth/jwks"),
                    }
                    results = bench_server(wrk, idp, database, [scenarios[name] for name in wanted], args, workdir)
                    idp_rss = idp.worker_peak_rss_mb()
                    server_errors = idp.error_lines()
                finally:
                    idp.stop()
                if server_errors:
                    print(f"server logged {len(server_errors)} error lines, e.g.:\n  " + "\n  ".join(server_errors[:5]))
                summary.append((label, bare_results + results, {r.concurrency: r.rps for r in bare_results}, idp_rss, bare_rss))
    finally:
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    repeat = f", best of {args.repeat}" if args.repeat > 1 else ""
    print(
        f"\nwrk: {args.wrk_threads} thread(s), {args.duration:g} s per row{repeat}, after {args.warmup:g} s warm-up per scenario."
        "\nerrors: socket errors + non-2xx/3xx answers. RSS: highest worker VmHWM so far. x bare: req/s over the bare"
        "\nFlask route's at the same concurrency. srv/db/gen/other: CPU used by gunicorn, by PostgreSQL for this"
        f"\ndatabase, by wrk and by the rest of the machine, in % of one core ({os.cpu_count()} cores in all)."
    )
    for label, results, bare, idp_rss, bare_rss in summary:
        print_table(label, results, bare)
        peaks = ", ".join(f"{mb:.1f}" for _, mb in sorted(idp_rss.items()))
        verdict = "ok" if idp_rss and max(idp_rss.values()) <= MAX_RSS_MB else "MISSED"
        print(
            f"peak RSS per IdP worker (VmHWM, MB): {peaks} (target <= {MAX_RSS_MB:g}: {verdict}); "
            f"bare app worker: {max(bare_rss.values(), default=0):.1f}"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
