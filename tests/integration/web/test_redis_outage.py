"""Redis unreachable: sign-in keeps working under in-memory limits, revocation says 503, revoked stays revoked.

The app talks to Redis through a TCP proxy (tests/faults.py); ``cut()`` resets its connections and
refuses new ones. The database stays up.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from app.core.clients import ClientSpec, create_client
from app.extensions import db, limiter
from app.models import RevokedAccessToken
from tests.conftest import DEFAULT_PASSWORD
from tests.faults import TcpProxy
from tests.integration.web.helpers import add_user, post_form

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs IDP_TEST_REDIS_URL")


@pytest.fixture
def redis_proxy(monkeypatch):
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    proxy = TcpProxy(int(host_port.rsplit(":", 1)[1]), host_port.rsplit(":", 1)[0])
    # The Limiter object is process-wide: whatever it learns about this Redis must not outlive the test.
    monkeypatch.setattr(limiter, "_storage_dead", False)
    yield proxy
    proxy.close()


@pytest.fixture
def outage_app(redis_proxy, limited_app):
    def build(**limits):
        url = redis_proxy.url_for(REDIS_URL)
        return limited_app(REDIS_URL=url, **limits)

    return build


def login(app, email, password, ip="198.51.100.7"):
    return post_form(app.test_client(), "/login", {"email": email, "password": password}, ip=ip)


def test_sign_in_works_while_redis_is_down_and_limits_still_hold_in_memory(outage_app, redis_proxy, capture_app_log):
    app = outage_app(LIMIT_LOGIN_IP="3 per minute")
    log = capture_app_log()
    add_user(app, "ada@example.com")
    assert app.config["RATELIMIT_STORAGE_URI"].endswith(f":{redis_proxy.port}/0")

    redis_proxy.cut()
    assert login(app, "ada@example.com", DEFAULT_PASSWORD).status_code == 303
    assert login(app, "ada@example.com", "not the password at all").status_code == 401
    assert login(app, "ada@example.com", DEFAULT_PASSWORD).status_code == 303
    assert login(app, "ada@example.com", DEFAULT_PASSWORD).status_code == 429  # the fourth from this IP
    assert login(app, "ada@example.com", DEFAULT_PASSWORD, ip="198.51.100.8").status_code == 303

    warnings = [line for line in log.getvalue().splitlines() if "WARNING" in line and "rate limit" in line.lower()]
    assert len(warnings) == 1, log.getvalue()  # once, not per request


@pytest.fixture
def machine(outage_app):
    app = outage_app()
    with app.app_context():
        spec = ClientSpec(name="API", is_confidential=True, redirect_uris=[], grant_types=["client_credentials"], scope="api")
        client, secret = create_client(spec)
        db.session.commit()
        client_id = client.client_id
    http = app.test_client()

    def post(path, **data):
        return http.post(path, data=data, auth=(client_id, secret))

    def new_token():
        response = post("/oauth/token", grant_type="client_credentials")
        assert response.status_code == 200
        return response.get_json()["access_token"]

    def active(token):
        response = post("/oauth/introspect", token=token)
        assert response.status_code == 200
        return response.get_json()["active"]

    def denied_rows():
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(RevokedAccessToken))

    return app, post, new_token, active, denied_rows


def test_a_token_revoked_before_the_outage_stays_inactive_during_it(machine, redis_proxy, capture_app_log):
    _app, post, new_token, active, _rows = machine
    log = capture_app_log()
    revoked, live = new_token(), new_token()
    assert post("/oauth/revoke", token=revoked).status_code == 200

    redis_proxy.cut()
    for _ in range(3):
        assert active(revoked) is False  # the database answers
        assert active(live) is True
    warnings = [line for line in log.getvalue().splitlines() if "WARNING" in line and "deny-list" in line]
    assert len(warnings) == 1, log.getvalue()  # once per outage, not per check

    redis_proxy.restore()
    assert active(revoked) is False and active(live) is True


def test_a_revocation_during_the_outage_answers_503_and_writes_nothing(machine, redis_proxy):
    _app, post, new_token, active, denied_rows = machine
    token = new_token()

    redis_proxy.cut()
    response = post("/oauth/revoke", token=token)
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert "Error" not in response.get_json()["error_description"]  # no exception text
    assert denied_rows() == 0
    assert active(token) is True  # not revoked, and the client was told so

    redis_proxy.restore()
    assert post("/oauth/revoke", token=token).status_code == 200
    assert active(token) is False and denied_rows() == 1
