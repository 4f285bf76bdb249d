"""The live server for browser journeys: its own database, migrated by Alembic, served by gunicorn."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from app.models import User

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.prefix) / "bin"
STARTUP_DEADLINE_SECONDS = 30.0
# Lines in the server log that mean something went wrong on the server side of a journey.
ERROR_MARKERS = ('"level": "ERROR"', '"level": "CRITICAL"', "Traceback (most recent call last)", "[ERROR]", "[CRITICAL]")


@dataclass
class LiveServer:
    url: str
    database_url: str
    log_path: Path
    process: subprocess.Popen
    engine: Engine
    env: dict[str, str] = field(default_factory=dict)  # the server's configuration, for ``flask`` commands

    def log_text(self, start: int = 0) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def error_lines(self, start: int = 0) -> list[str]:
        return [line for line in self.log_text(start).splitlines() if any(marker in line for marker in ERROR_MARKERS)]

    def flask(self, *args: str) -> str:
        """Run a ``flask`` CLI command against the server's own database and configuration; its stdout."""
        result = subprocess.run(
            [str(VENV_BIN / "flask"), *args], cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            pytest.fail(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)
        return result.stdout

    def count_users(self, email: str) -> int:
        """Read the server's own database: how many accounts use this address (case-insensitive)."""
        query = select(func.count()).select_from(User).where(func.lower(User.email) == email.lower())
        with self.engine.connect() as connection:
            return connection.scalar(query)


@contextmanager
def server_database(tmp_dir: Path) -> Iterator[str]:
    """A database only the live server uses: a temp SQLite file, or a fresh PostgreSQL database."""
    base_url = os.environ.get("IDP_TEST_DATABASE_URL")
    if not base_url:
        yield f"sqlite:///{tmp_dir / 'e2e.sqlite3'}"
        return
    url = make_url(base_url)
    name = f"idp_e2e_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # FORCE: a worker that did not exit cleanly must not keep the database alive.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_env(port: int, database_url: str, instance_dir: Path, smtp_port: int) -> dict[str, str]:
    """The server's whole configuration, from IDP_* variables only (none inherited from the caller)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update(
        FLASK_APP="wsgi",
        IDP_ISSUER=f"http://localhost:{port}",  # WebAuthn needs a host name, not an IP
        IDP_DATABASE_URL=database_url,
        IDP_SECRET_KEY=secrets.token_urlsafe(48),
        IDP_INSTANCE_DIR=str(instance_dir),
        IDP_SMTP_HOST="127.0.0.1",
        IDP_SMTP_PORT=str(smtp_port),
        IDP_SMTP_SECURITY="none",
        IDP_LOG_JSON="1",
        # Every browser here comes from 127.0.0.1, and with Redis the counters outlive the run
        # (the limiter's key prefix is fixed): the per-IP limits stay on, but out of the way.
        # Per-account limits keep their defaults; each test uses fresh addresses.
        IDP_LIMIT_LOGIN_IP="1000 per minute",
        IDP_LIMIT_REGISTER_IP="1000 per hour",
        IDP_LIMIT_RESET_IP="1000 per hour",
    )
    redis_url = os.environ.get("IDP_TEST_REDIS_URL")
    if redis_url:
        env["IDP_REDIS_URL"] = redis_url
    return env


def migrate(env: dict[str, str]) -> None:
    """``flask db upgrade`` on the server's database: the Alembic migration must build a working schema."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "db", "upgrade"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"flask db upgrade failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)


def start_gunicorn(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # With Redis the rate limits are shared, so two processes are safe; in memory they are per
    # process, so one process with threads keeps them exact.
    workers = "2" if env.get("IDP_REDIS_URL") else "1"
    command = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", workers, "--threads", "4"]
    command += ["--no-control-socket", "--graceful-timeout", "5", "wsgi:app"]
    with log_path.open("wb") as log_file:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def wait_until_ready(server: LiveServer, health_url: str) -> None:
    """Poll /healthz until it answers 200; fail with the log if the process exits or time runs out."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        try:
            code = server.process.wait(timeout=0.1)  # the pause between polls doubles as a death check
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"gunicorn exited with {code} before it was ready:\n{server.log_tail()}", pytrace=False)
    pytest.fail(f"gunicorn not ready after {STARTUP_DEADLINE_SECONDS:.0f}s ({last_error}):\n{server.log_tail()}", pytrace=False)


@contextmanager
def running_instance(
    tmp_dir: Path, port: int, make_env: Callable[[str, Path], dict[str, str]], server_class: type[LiveServer] = LiveServer
) -> Iterator[LiveServer]:
    """An instance of this IdP for the run: its own database, migrated, served by gunicorn until the block ends.

    ``make_env(database_url, instance_dir)`` gives its configuration; IDP_ISSUER is its URL.
    """
    instance_dir = tmp_dir / "instance"
    instance_dir.mkdir()
    with server_database(tmp_dir) as database_url:
        env = make_env(database_url, instance_dir)
        migrate(env)
        engine = create_engine(database_url, poolclass=NullPool)
        log_path = tmp_dir / "server.log"
        process = start_gunicorn(port, env, log_path)
        server = server_class(env["IDP_ISSUER"], database_url, log_path, process, engine, env)
        try:
            wait_until_ready(server, f"http://127.0.0.1:{port}/healthz")
            yield server
        finally:
            stop(process)
            engine.dispose()


def stop(process: subprocess.Popen) -> None:
    """Stop only the process we started: SIGTERM to its PID (gunicorn then stops its own workers)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
