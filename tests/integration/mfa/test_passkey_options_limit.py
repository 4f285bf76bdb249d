"""The passkey options endpoint has its own limit (IDP_LIMIT_PASSKEY_OPTIONS_IP): every sign-in page load asks for
options (autofill), so its numbers are not the password sign-in's (LIMIT_LOGIN_IP), which the passkey's answer keeps.
A limited ceremony endpoint answers JSON, which webauthn.js shows."""

from __future__ import annotations

import json

import pytest

from app.extensions import limiter
from tests.conftest import csrf_from

GENEROUS = "1000 per minute"
PASSKEY_OPTIONS = "/mfa/passkey/options"
PASSKEY_VERIFY = "/mfa/passkey/verify"


@pytest.fixture
def limited_app(app_factory, monkeypatch):
    def build(**limits: str):
        monkeypatch.setattr(limiter, "_key_prefix", None)  # this app's own counters (see tests/integration/web)
        settings = {"LIMIT_LOGIN_IP": GENEROUS, "LIMIT_LOGIN_ACCOUNT": GENEROUS, "LIMIT_PASSKEY_OPTIONS_IP": GENEROUS}
        return app_factory(RATELIMIT_ENABLED=True, **(settings | limits))

    return build


def post_json(client, path: str, token: str):
    return client.post(path, data=json.dumps({}), content_type="application/json", headers={"X-CSRFToken": token})


def sign_in_page(client) -> str:
    return csrf_from(client.get("/login").get_data(as_text=True))


def password_attempt(client, token: str):
    return client.post("/login", data={"csrf_token": token, "email": "nobody@example.com", "password": "not the password"})


def test_options_have_their_own_limit_and_leave_password_sign_in_alone(limited_app):
    client = limited_app(LIMIT_PASSKEY_OPTIONS_IP="3 per minute", LIMIT_LOGIN_IP="2 per minute").test_client()
    token = sign_in_page(client)

    statuses = [post_json(client, PASSKEY_OPTIONS, token).status_code for _ in range(3)]
    limited = post_json(client, PASSKEY_OPTIONS, token)

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429 and limited.is_json and limited.get_json()["error"]
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert [password_attempt(client, token).status_code for _ in range(2)] == [401, 401]  # LIMIT_LOGIN_IP's own two


def test_password_attempts_leave_the_options_alone(limited_app):
    client = limited_app(LIMIT_PASSKEY_OPTIONS_IP="2 per minute", LIMIT_LOGIN_IP="2 per minute").test_client()
    token = sign_in_page(client)

    assert [password_attempt(client, token).status_code for _ in range(3)] == [401, 401, 429]
    assert [post_json(client, PASSKEY_OPTIONS, token).status_code for _ in range(3)] == [200, 200, 429]


def test_passkey_answers_keep_the_sign_in_limit(limited_app):
    client = limited_app(LIMIT_LOGIN_IP="2 per minute").test_client()
    token = sign_in_page(client)

    assert [post_json(client, PASSKEY_VERIFY, token).status_code for _ in range(2)] == [401, 401]  # no challenge held
    limited = post_json(client, PASSKEY_VERIFY, token)
    assert limited.status_code == 429 and limited.is_json
    assert [post_json(client, PASSKEY_OPTIONS, token).status_code for _ in range(3)] == [200, 200, 200]
