"""Several instances on one PostgreSQL through PgBouncer in transaction mode (IDP_DATABASE_POOLER).

Behind a transaction pooler, consecutive transactions of one client connection run on whichever server
connection is free. psycopg 3 prepares a query on the server once it has run it five times on a
connection, so without ``IDP_DATABASE_POOLER=transaction`` a later transaction meets a server connection
that lacks the statement or already has one of that name. The first tests show that with two plain
clients; the last drives real traffic through two gunicorn instances (2 workers x 4 threads each) whose
sixteen pooled client connections share two server connections.

Runs in the PostgreSQL half of CI (skipped on SQLite); needs PgBouncer (.ci/install-pgbouncer).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from app.config import database_pooler, engine_options
from app.settings import ConfigError
from tests.conftest import csrf_from
from tests.e2e.server import PROJECT_ROOT, VENV_BIN, LiveServer, migrate, server_database, server_env, stop, wait_until_ready
from tests.mailbox import SmtpServer, free_port
from tests.pgbouncer import PgBouncer, postgresql_test_url, running_pgbouncer

PSYCOPG_PREPARE_THRESHOLD = 5  # psycopg's default: a query is prepared on the server after this many runs
SHARED = "shared"  # the instances' alias: two server connections for every client
SINGLE = "single"  # one server connection, so two clients meet on it every time
SHARED_SERVER_CONNECTIONS = 2
THREADS = 8
ROUNDS_PER_THREAD = 6
REVOCATIONS_PER_ROUND = PSYCOPG_PREPARE_THRESHOLD + 1
HTTP_TIMEOUT = 10
PREPARED_STATEMENT_ERRORS = (psycopg.errors.DuplicatePreparedStatement, psycopg.errors.InvalidSqlStatementName)


@dataclass
class Pooled:
    pgbouncer: PgBouncer
    direct_url: str  # the same database without PgBouncer, for checks from outside


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pooled]:
    """A fresh database of our own on the test PostgreSQL, served by PgBouncer under two aliases."""
    backend = postgresql_test_url()
    with server_database(tmp_path_factory.mktemp("pgbouncer")) as direct_url:
        database = make_url(direct_url).database
        pools = {SHARED: (database, SHARED_SERVER_CONNECTIONS), SINGLE: (database, 1)}
        with running_pgbouncer(backend, pools) as pgbouncer:
            yield Pooled(pgbouncer, direct_url)


def errors_from_two_clients(url: str, pooler: str) -> list[BaseException]:
    """Two clients with one pooled connection each run one query in turns, a transaction per run, past
    psycopg's prepare threshold; the database errors they meet."""
    options = engine_options(url, pooler)
    engines = [create_engine(url, pool_size=1, max_overflow=0, **options) for _ in range(2)]
    query = text("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = :name")
    errors: list[BaseException] = []
    try:
        for run in range(2 * (PSYCOPG_PREPARE_THRESHOLD + 3)):
            try:
                with engines[run % 2].begin() as connection:
                    assert connection.scalar(query, {"name": "pg_class"}) == 1
            except DBAPIError as error:
                errors.append(error.orig)
    finally:
        for engine in engines:
            engine.dispose()
    return errors


def test_without_the_setting_prepared_statements_break_behind_a_transaction_pooler(pooled: Pooled) -> None:
    errors = errors_from_two_clients(pooled.pgbouncer.url(SINGLE), "none")

    assert errors, "psycopg's prepared statements went through a transaction pooler unharmed: this test proves nothing"
    assert all(isinstance(error, PREPARED_STATEMENT_ERRORS) for error in errors), errors


def test_with_the_setting_nothing_is_prepared_and_nothing_breaks(pooled: Pooled) -> None:
    assert errors_from_two_clients(pooled.pgbouncer.url(SINGLE), "transaction") == []


def test_the_setting_leaves_direct_connections_and_other_drivers_alone() -> None:
    assert "connect_args" not in engine_options("postgresql+psycopg://u@db/idp", "none")
    assert "connect_args" not in engine_options("sqlite://", "transaction")
    assert engine_options("postgresql+psycopg://u@pgbouncer/idp", "transaction") == {
        "pool_pre_ping": True,  # still wanted: a restarted PgBouncer drops its client connections
        "connect_args": {"prepare_threshold": None},
    }


@pytest.mark.parametrize("value", ["pgbouncer", "transactions", "session"])
def test_an_unknown_pooler_stops_start_up_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match=f"IDP_DATABASE_POOLER must be one of none, transaction, not '{value}'"):
        database_pooler(value)


def test_the_pooler_is_read_in_any_case() -> None:
    assert database_pooler(" Transaction ") == "transaction"


# --- two instances, real traffic ---------------------------------------------------------------------------


@dataclass
class Client:
    client_id: str
    secret: str


@dataclass
class Instance:
    base: str  # where this instance listens; every instance has the same issuer, as behind a load balancer
    server: LiveServer


def instances_env(pooled: Pooled, issuer_port: int, instance_dir: Path, smtp_port: int) -> dict[str, str]:
    env = server_env(issuer_port, pooled.pgbouncer.url(SHARED), instance_dir, smtp_port)
    run = secrets.token_hex(4)
    env.update(
        IDP_DATABASE_POOLER="transaction",
        # Every sign-in here is one account's from one address; with Redis the counters outlive the run.
        IDP_LIMIT_LOGIN_ACCOUNT="1000 per minute",
        IDP_RATELIMIT_KEY_PREFIX=f"pgbouncer-{run}",
        IDP_REDIS_KEY_PREFIX=f"pgbouncer-{run}",
    )
    return env


def start_instance(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    command += ["--no-control-socket", "--graceful-timeout", "5", "wsgi:app"]
    with log_path.open("wb") as log_file:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def instances(pooled: Pooled, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Instance]]:
    """Two gunicorn instances of one deployment, migrated and served through PgBouncer."""
    tmp_dir = tmp_path_factory.mktemp("instances")
    ports = [free_port(), free_port()]
    (tmp_dir / "instance").mkdir()
    env = instances_env(pooled, ports[0], tmp_dir / "instance", smtp_server.port)
    migrate(env)  # Alembic through PgBouncer too
    engine = create_engine(pooled.direct_url, poolclass=NullPool)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        started = []
        for number, port in enumerate(ports):
            log_path = tmp_dir / f"server-{number}.log"
            process = start_instance(port, env, log_path)
            stack.callback(stop, process)
            started.append(
                Instance(
                    f"http://127.0.0.1:{port}", LiveServer(env["IDP_ISSUER"], pooled.direct_url, log_path, process, engine, env)
                )
            )
        for instance in started:
            wait_until_ready(instance.server, f"{instance.base}/healthz")
        yield started


def call(instance: Instance, path: str, client: Client, data: dict[str, str]) -> requests.Response:
    """A protocol endpoint, with the client's secret (HTTP Basic); anything but 200 fails the test."""
    auth = (client.client_id, client.secret)
    response = requests.post(f"{instance.base}{path}", data=data, auth=auth, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return response


def issue(instance: Instance, client: Client) -> str:
    data = {"grant_type": "client_credentials", "scope": "api"}
    return call(instance, "/oauth/token", client, data).json()["access_token"]


def introspect(instance: Instance, client: Client, token: str) -> bool:
    return call(instance, "/oauth/introspect", client, {"token": token}).json()["active"]


def revoke(instance: Instance, client: Client, token: str) -> None:
    call(instance, "/oauth/revoke", client, {"token": token})


def sign_in(instance: Instance, email: str, password: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{instance.base}/login", timeout=HTTP_TIMEOUT)
    data = {"csrf_token": csrf_from(form.text), "email": email, "password": password}
    response = browser.post(f"{instance.base}/login", data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert response.status_code == 303, response.text
    return browser


def one_round(first: Instance, second: Instance, client: Client, email: str, password: str) -> None:
    """Tokens from one instance, checked and revoked on the other; a sign-in on one, recognised by the other.

    A revocation ends in a commit, so a run of them reuses one connection past psycopg's prepare threshold without
    the ROLLBACK that would clear its cache: without the setting, they are what fails (DuplicatePreparedStatement).
    """
    tokens = [issue(first, client) for _ in range(REVOCATIONS_PER_ROUND)]
    assert introspect(second, client, tokens[0]) is True
    for token in tokens:
        revoke(second, client, token)
    assert [introspect(first, client, token) for token in tokens] == [False] * REVOCATIONS_PER_ROUND
    assert introspect(second, client, tokens[-1]) is False
    browser = sign_in(first, email, password)
    account = browser.get(f"{second.base}/account/", allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert account.status_code == 200 and email in account.text


def test_two_instances_serve_correctly_through_pgbouncer(instances: list[Instance], pooled: Pooled) -> None:
    server = instances[0].server
    created = json.loads(server.flask("clients", "create", "--name", "Batch", "--grant", "client_credentials", "--scope", "api"))
    client = Client(created["client_id"], created["client_secret"])
    email, password = "pooled@example.com", secrets.token_urlsafe(18)
    server.flask("users", "create", "--email", email, "--password", password)
    server.flask("prepare")  # its advisory lock is transaction-scoped, so it holds through PgBouncer too

    def worker(number: int) -> None:
        for round_number in range(ROUNDS_PER_THREAD):
            first, second = instances if (number + round_number) % 2 == 0 else reversed(instances)
            one_round(first, second, client, email, password)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(worker, number) for number in range(THREADS)]:
            future.result()

    # Every sign-in recorded once; the export reads them with a server-side cursor, which lives in one transaction.
    today = datetime.now(UTC).date().isoformat()
    sign_ins = json.loads(server.flask("audit", "export", "--since", today, "--format", "json", "--event-type", "auth.login"))
    assert len(sign_ins["events"]) == THREADS * ROUNDS_PER_THREAD
    for instance in instances:
        assert instance.server.process.poll() is None, instance.server.log_tail()
        assert instance.server.error_lines() == [], instance.server.log_tail()
    with server.engine.connect() as connection:
        database = make_url(pooled.direct_url).database
        server_connections = connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": database}
        )
    # The four workers' client connections are all still open; PostgreSQL saw only PgBouncer's (SINGLE's may linger).
    assert server_connections <= SHARED_SERVER_CONNECTIONS + 1
