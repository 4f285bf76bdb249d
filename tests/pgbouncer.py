"""A real PgBouncer for tests: transaction pooling on a free loopback port, in front of the test PostgreSQL.

Operators run several instances of the IdP on one PostgreSQL through PgBouncer in transaction mode, where
each transaction may run on another server connection. Debian's PgBouncer (1.18) does not carry prepared
statements across them; that is what ``IDP_DATABASE_POOLER=transaction`` is for.

PgBouncer refuses to run as root: then it switches to ``nobody`` after start-up, so its files live in a
directory of their own that ``nobody`` owns. It is started in the foreground and stopped by its PID.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from tests.e2e.server import stop
from tests.mailbox import free_port

STARTUP_DEADLINE_SECONDS = 10.0
UNPRIVILEGED_USER = "nobody"


@dataclass
class PgBouncer:
    port: int
    process: subprocess.Popen
    log_path: Path
    backend: URL  # the PostgreSQL server behind it

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for one of its databases, through PgBouncer (same user and driver as the backend's)."""
        return self.backend.set(host="127.0.0.1", port=self.port, database=database).render_as_string(hide_password=False)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def postgresql_test_url() -> URL:
    """The test PostgreSQL server (IDP_TEST_DATABASE_URL); skips on SQLite, where there is nothing to pool."""
    url = os.environ.get("IDP_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: set IDP_TEST_DATABASE_URL (the PostgreSQL + Redis half of CI)")
    return make_url(url)


def pgbouncer_binary() -> str:
    """PgBouncer's path; outside CI a machine without it skips, in CI (.ci/install-pgbouncer) it must be there."""
    path = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if os.access(path, os.X_OK):
        return path
    reason = "PgBouncer isn't installed (bash .ci/install-pgbouncer installs Debian's pgbouncer)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI installs it, so this is a broken setup", pytrace=False)
    pytest.skip(reason)


def pgbouncer_ini(backend: URL, pools: dict[str, tuple[str, int]], port: int, work_dir: Path) -> str:
    """The configuration: each alias maps to (database on the backend, its number of server connections)."""
    password = f" password={backend.password}" if backend.password else ""
    databases = [
        f"{alias} = host={backend.host} port={backend.port or 5432} dbname={database} pool_size={size}{password}"
        for alias, (database, size) in pools.items()
    ]
    settings = [
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",  # no socket file anywhere; loopback TCP only
        "pool_mode = transaction",
        "auth_type = trust",  # the test PostgreSQL trusts loopback; PgBouncer still wants its users listed
        f"auth_file = {work_dir / 'users.txt'}",
        "max_client_conn = 200",
        "ignore_startup_parameters = extra_float_digits,options",
    ]
    if os.geteuid() == 0:
        settings.append(f"user = {UNPRIVILEGED_USER}")
    return "\n".join(["[databases]", *databases, "", "[pgbouncer]", *settings, ""])


@contextmanager
def running_pgbouncer(backend: URL, pools: dict[str, tuple[str, int]]) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of ``backend``, serving ``pools``, until the block ends."""
    binary = pgbouncer_binary()
    work_dir = Path(tempfile.mkdtemp(prefix="idp-pgbouncer-"))
    try:
        port = free_port()
        (work_dir / "users.txt").write_text(f'"{backend.username}" ""\n')
        ini = work_dir / "pgbouncer.ini"
        ini.write_text(pgbouncer_ini(backend, pools, port, work_dir))
        if os.geteuid() == 0:
            _hand_over(work_dir)
        log_path = work_dir / "pgbouncer.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen([binary, str(ini)], stdout=log_file, stderr=subprocess.STDOUT)
        pgbouncer = PgBouncer(port, process, log_path, backend)
        try:
            _wait_until_listening(pgbouncer)
            yield pgbouncer
        finally:
            stop(process)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _hand_over(work_dir: Path) -> None:
    """Let the unprivileged user PgBouncer becomes read its files (it reads the auth file after switching)."""
    account = pwd.getpwnam(UNPRIVILEGED_USER)
    for path in (work_dir, *work_dir.iterdir()):
        os.chown(path, account.pw_uid, account.pw_gid)


def _wait_until_listening(pgbouncer: PgBouncer) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while not _accepts_connections(pgbouncer.port):
        if time.monotonic() > deadline:
            pytest.fail(f"PgBouncer not listening after {STARTUP_DEADLINE_SECONDS:.0f}s:\n{pgbouncer.log_text()}", pytrace=False)
        with suppress(subprocess.TimeoutExpired):
            code = pgbouncer.process.wait(timeout=0.1)  # the pause between polls doubles as a death check
            pytest.fail(f"PgBouncer exited with {code}:\n{pgbouncer.log_text()}", pytrace=False)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
