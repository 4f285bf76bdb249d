"""The outages again, through a live gunicorn: whatever fails, the answer comes from the app, never from gunicorn.

The server's PostgreSQL and Redis connections go through TCP proxies (tests/faults.py) that the
test cuts and restores. It uses the test run's own database (the schema ``app_factory`` created),
never a database of its own.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.conftest import DEFAULT_PASSWORD
from tests.e2e.server import LiveServer, server_env, start_gunicorn, stop, wait_until_ready
from tests.faults import TcpProxy
from tests.integration.web.helpers import add_user
from tests.mailbox import free_port

DATABASE_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(
    not (DATABASE_URL.startswith("postgresql") and REDIS_URL),
    reason="needs IDP_TEST_DATABASE_URL (PostgreSQL) and IDP_TEST_REDIS_URL",
)
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def proxies():
    database, cache = make_url(DATABASE_URL), REDIS_URL.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    db_proxy = TcpProxy(database.port or 5432, database.host or "127.0.0.1")
    redis_proxy = TcpProxy(int(cache.rsplit(":", 1)[1]), cache.rsplit(":", 1)[0])
    yield db_proxy, redis_proxy
    db_proxy.close()
    redis_proxy.close()


@pytest.fixture
def live(proxies, app_factory, smtp_server, tmp_path: Path):
    db_proxy, redis_proxy = proxies
    app = app_factory()  # empties the tables the server will use
    add_user(app, "ada@example.com")
    database = make_url(DATABASE_URL).set(host="127.0.0.1", port=db_proxy.port).update_query_dict({"connect_timeout": "2"})
    port = free_port()
    instance = tmp_path / "instance"
    instance.mkdir()
    env = server_env(port, database.render_as_string(hide_password=False), instance, smtp_server.port)
    env["IDP_REDIS_URL"] = redis_proxy.url_for(REDIS_URL)
    env["IDP_REDIS_KEY_PREFIX"] = env["IDP_RATELIMIT_KEY_PREFIX"] = f"test-live-{port}"
    log_path = tmp_path / "server.log"
    process = start_gunicorn(port, env, log_path)
    server = LiveServer(env["IDP_ISSUER"], env["IDP_DATABASE_URL"], log_path, process, None, env)
    try:
        wait_until_ready(server, f"http://127.0.0.1:{port}/healthz")
        yield server
    finally:
        db_proxy.restore()
        stop(process)


def sign_in(server: LiveServer) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{server.url}/login", timeout=10)
    data = {"csrf_token": CSRF.search(page.text).group(1), "email": "ada@example.com", "password": DEFAULT_PASSWORD}
    response = browser.post(f"{server.url}/login", data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text[:300]
    return browser


def assert_from_the_app(response: requests.Response, status: int, *, json_error: str | None = None) -> None:
    """The app's own answer: its request id, and the RFC 6749 JSON error expected, else its page naming that id."""
    assert response.status_code == status
    request_id = response.headers.get("X-Request-ID")
    assert request_id, "not answered by the app"  # gunicorn's own errors have none
    content_type = response.headers.get("Content-Type", "")
    if json_error is not None:
        assert content_type.startswith("application/json"), content_type
        assert response.json()["error"] == json_error, response.text
    else:
        assert content_type.startswith("text/html"), content_type
        assert f"reference {request_id}" in response.text, response.text[:500]  # not a bare fallback page


def test_postgresql_cut_and_restored_under_gunicorn(live, proxies):
    db_proxy, _ = proxies
    browser = sign_in(live)
    assert browser.get(f"{live.url}/account/", timeout=10).status_code == 200
    start = live.log_size()

    db_proxy.cut()
    page = browser.get(f"{live.url}/account/", allow_redirects=False, timeout=10)
    assert_from_the_app(page, 503)
    assert "Temporarily unavailable" in page.text and int(page.headers["Retry-After"]) > 0
    token = requests.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"), timeout=10)
    assert_from_the_app(token, 503, json_error="temporarily_unavailable")
    assert not live.error_lines(start), live.log_text(start)

    db_proxy.restore()
    for _ in range(4):  # whichever worker answers, its pool replaces dead connections before use
        assert browser.get(f"{live.url}/account/", timeout=10).status_code == 200


def test_redis_cut_under_gunicorn_leaves_sign_in_working(live, proxies):
    _, redis_proxy = proxies
    start = live.log_size()
    redis_proxy.cut()
    for _ in range(4):  # both workers, whichever gets the connection
        browser = sign_in(live)
        assert browser.get(f"{live.url}/account/", timeout=10).status_code == 200
    log = live.log_text(start)
    switches = [line for line in log.splitlines() if "falling back to in-memory storage" in line]
    assert 1 <= len(switches) <= 2 and all('"level": "WARNING"' in line for line in switches), log  # once per worker
    assert not live.error_lines(start), log
