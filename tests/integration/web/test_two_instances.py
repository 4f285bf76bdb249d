"""Two instances of the IdP behind one issuer, sharing PostgreSQL and Redis, agree at once.

Each instance is its own gunicorn (two workers each), as several machines behind a load balancer
would be: same issuer, same secret, same database, same Redis. What one instance changes, the other
must honour on the next request: a revoked token, an ended session, a rate-limit counter, a deleted
client. Runs only with PostgreSQL and Redis (IDP_TEST_DATABASE_URL, IDP_TEST_REDIS_URL).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from tests.e2e.server import LiveServer, migrate, server_database, server_env, start_gunicorn, stop, wait_until_ready
from tests.mailbox import SmtpServer, free_port

pytestmark = pytest.mark.skipif(
    not (os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql") and os.environ.get("IDP_TEST_REDIS_URL")),
    reason="two instances share PostgreSQL and Redis (set IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL)",
)

PASSWORD = "correct horse battery staple, twice"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# How long a change may take to reach the other instance: client changes travel through a Redis
# generation number read at most once a second; everything else is at once.
CLIENT_CHANGE_SECONDS = 3.0


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    url_a: str
    url_b: str

    def flask(self, *args: str) -> str:
        return self.a.flask(*args)


def _instance(tmp: Path, name: str, port: int, env: dict[str, str], database_url: str) -> LiveServer:
    log_path = tmp / f"{name}.log"
    process = start_gunicorn(port, env, log_path)
    server = LiveServer(env["IDP_ISSUER"], database_url, log_path, process, create_engine(database_url, poolclass=NullPool), env)
    wait_until_ready(server, f"http://127.0.0.1:{port}/healthz")
    return server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, smtp_server: SmtpServer) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("two-instances")
    port_a, port_b = free_port(), free_port()
    instance_dir = tmp / "instance"
    instance_dir.mkdir()
    with server_database(tmp) as database_url:
        # One configuration for both, as behind a load balancer: the issuer is instance A's address.
        env = server_env(port_a, database_url, instance_dir, smtp_server.port)
        env["IDP_LIMIT_LOGIN_ACCOUNT"] = "3 per minute"
        # Counters and cache generations of this run only: Redis outlives the run.
        env["IDP_RATELIMIT_KEY_PREFIX"] = env["IDP_REDIS_KEY_PREFIX"] = f"two-{uuid.uuid4().hex}"
        migrate(env)
        servers: list[LiveServer] = []
        try:
            servers.append(_instance(tmp, "a", port_a, env, database_url))
            servers.append(_instance(tmp, "b", port_b, env, database_url))
            yield Cluster(servers[0], servers[1], f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}")
        finally:
            for server in servers:
                stop(server.process)
                server.engine.dispose()


@pytest.fixture(scope="module")
def machine_client(cluster: Cluster) -> tuple[str, str]:
    created = json.loads(
        cluster.flask("clients", "create", "--name", "Two instances", "--grant", "client_credentials", "--scope", "api")
    )
    return created["client_id"], created["client_secret"]


def _token(base: str, client: tuple[str, str]) -> requests.Response:
    return requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=client, timeout=10)


def _introspect(base: str, client: tuple[str, str], token: str) -> dict:
    response = requests.post(f"{base}/oauth/introspect", data={"token": token}, auth=client, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _sign_in(base: str, email: str, password: str, session: requests.Session | None = None) -> requests.Response:
    session = session or requests.Session()
    page = session.get(f"{base}/login", timeout=10).text
    data = {"csrf_token": CSRF.search(page).group(1), "email": email, "password": password}
    return session.post(f"{base}/login", data=data, allow_redirects=False, timeout=10)


def _eventually(check: Callable[[], bool], seconds: float) -> bool:
    """Poll a condition until it holds or the time is up (bounded; a change between instances is not instant)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_a_token_revoked_at_one_instance_is_inactive_at_the_other_at_once(cluster, machine_client):
    token = _token(cluster.url_a, machine_client).json()["access_token"]
    assert _introspect(cluster.url_b, machine_client, token)["active"] is True

    revoked = requests.post(f"{cluster.url_b}/oauth/revoke", data={"token": token}, auth=machine_client, timeout=10)

    assert revoked.status_code == 200
    assert _introspect(cluster.url_a, machine_client, token) == {"active": False}


def test_a_session_ended_at_one_instance_is_signed_out_at_the_other(cluster):
    cluster.flask("users", "create", "--email", "ada@example.com", "--password", PASSWORD)
    browser = requests.Session()
    assert _sign_in(cluster.url_a, "ada@example.com", PASSWORD, browser).status_code == 303
    assert browser.get(f"{cluster.url_b}/account/", allow_redirects=False, timeout=10).status_code == 200

    page = browser.get(f"{cluster.url_b}/account/", timeout=10).text
    signed_out = browser.post(
        f"{cluster.url_b}/logout", data={"csrf_token": CSRF.search(page).group(1)}, allow_redirects=False, timeout=10
    )

    assert signed_out.status_code == 303
    # The cookie is gone from the jar; replay the old one at the other instance, as a thief would.
    assert browser.get(f"{cluster.url_a}/account/", allow_redirects=False, timeout=10).status_code == 302


def test_an_ended_sessions_cookie_replayed_at_the_other_instance_is_refused(cluster):
    cluster.flask("users", "create", "--email", "bob@example.com", "--password", PASSWORD)
    browser = requests.Session()
    _sign_in(cluster.url_a, "bob@example.com", PASSWORD, browser)
    stolen = dict(browser.cookies)
    page = browser.get(f"{cluster.url_a}/account/", timeout=10).text
    browser.post(f"{cluster.url_a}/logout", data={"csrf_token": CSRF.search(page).group(1)}, timeout=10)

    replayed = requests.get(f"{cluster.url_b}/account/", cookies=stolen, allow_redirects=False, timeout=10)

    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]


def test_the_per_account_limit_counts_failures_at_both_instances_together(cluster):
    cluster.flask("users", "create", "--email", "cy@example.com", "--password", PASSWORD)
    answers = [_sign_in(base, "cy@example.com", "wrong password").status_code for base in (cluster.url_a, cluster.url_b) * 2]
    # Three failures allowed per minute, wherever they land; the fourth is refused.
    assert answers[:3] == [401, 401, 401] and answers[3] == 429


def test_a_client_deleted_through_one_instance_stops_working_at_the_other(cluster):
    created = json.loads(cluster.flask("clients", "create", "--name", "Soon gone", "--grant", "client_credentials"))
    client = (created["client_id"], created["client_secret"])
    assert _token(cluster.url_b, client).status_code == 200  # instance B now has the client cached

    cluster.flask("clients", "delete", client[0])

    assert _eventually(lambda: _token(cluster.url_b, client).status_code == 401, CLIENT_CHANGE_SECONDS)
    assert _token(cluster.url_a, client).status_code == 401
