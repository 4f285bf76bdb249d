"""Issue 13, "never a 500": the hostile inputs measured against a live server each get their protocol answer.

Each of these answered 500 (or acted on a truncated body, or dropped a scope and issued a code) before
app.web.bad_input, app.web.json_input, app.web.numbers and app.core.scopes.
"""

from __future__ import annotations

import base64
import io
import json

import pytest

from app.core.protocol import DEVICE_CODE
from tests.conftest import csrf_from
from tests.integration.admin.conftest import sign_in_with_totp
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures)
    ALL_SCOPES,
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
    params_of,
    redirect_base,
    rp,
    user,
)

HUGE = "99999999999999999999"


def _assert_authorize_error(response, pending, error: str) -> None:
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert redirect_base(response) == pending.params["redirect_uri"]
    location = params_of(response)
    assert location["error"] == error
    assert location["state"] == pending.params["state"]
    assert "iss" in location and "code" not in location


# --- max_age: OverflowError in timedelta was a 500 ---


@pytest.mark.parametrize("max_age", [HUGE, str(2**31), "²", "1e3", "-1", " 5"])
def test_an_out_of_range_or_garbled_max_age_is_invalid_request_signed_in(rp, user, first_party, max_age):
    client, _ = first_party
    rp.auth.login(user.email)
    pending = rp.request(client, max_age=max_age)
    _assert_authorize_error(rp.authorize(pending), pending, "invalid_request")


def test_a_huge_max_age_is_invalid_request_signed_out_too(rp, first_party):
    client, _ = first_party
    pending = rp.request(client, max_age=HUGE)
    _assert_authorize_error(rp.authorize(pending), pending, "invalid_request")


def test_the_largest_accepted_max_age_still_issues_a_code(rp, user, first_party):
    client, _ = first_party
    rp.auth.login(user.email)
    issued = rp.code(client, max_age=str(2**31 - 1))
    assert issued.code


# --- scope grammar (RFC 6749 3.3): a bad token was dropped and a code issued ---


@pytest.mark.parametrize("bad", ['"quoted"', "back\\slash", "tab\there", "nul\x00", "caf\u00e9", "del\x7f"])
def test_a_scope_outside_the_grammar_is_an_invalid_scope_redirect(rp, user, first_party, bad):
    client, _ = first_party
    rp.auth.login(user.email)
    pending = rp.request(client, scope=f"openid {bad}")
    _assert_authorize_error(rp.authorize(pending), pending, "invalid_scope")


def test_a_bad_scope_at_the_token_endpoint_is_invalid_scope(rp, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api")
    response = rp.post("/oauth/token", client, secret, {"grant_type": "client_credentials", "scope": 'api "x'})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_a_bad_scope_at_device_authorization_is_invalid_scope(rp, create_oauth_client):
    client, _ = create_oauth_client(
        is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"], scope=ALL_SCOPES
    )
    response = rp.post("/oauth/device_authorization", client, None, {"scope": "openid pro\\file"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


# --- registration JSON: 2,000 nested arrays was a RecursionError, a 500 ---


@pytest.fixture
def open_registration(app):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    return app.test_client()


@pytest.mark.parametrize(
    "body",
    [
        "[" * 2000 + "]" * 2000,
        '{"client_name": ' + "[" * 10_000 + "]" * 10_000 + "}",
        '{"redirect_uris": ["https://rp.example/cb"], "x": NaN}',
        "1" * 5000,  # longer than Python's int digit limit: ValueError inside json.loads
    ],
)
def test_deep_or_broken_registration_json_is_invalid_client_metadata(open_registration, body):
    response = open_registration.post("/oauth/register", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


def test_registration_json_not_utf8_is_invalid_client_metadata(open_registration):
    response = open_registration.post("/oauth/register", data=b'{"client_name": "\xff"}', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


def test_a_registration_scope_outside_the_grammar_is_invalid_client_metadata(open_registration):
    metadata = {"redirect_uris": ["https://rp.example/cb"], "scope": 'openid "profile"'}
    response = open_registration.post("/oauth/register", json=metadata)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_client_metadata" and "3.3" in body["error_description"]


# --- chunked bodies: silently cut at MAX_CONTENT_LENGTH, and the part read was processed ---


def _chunked(http, path: str, body: bytes, content_type: str, **kwargs):
    """A body the way gunicorn hands over a chunked one: no Content-Length, wsgi.input_terminated set."""
    return http.post(
        path,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked"},  # Werkzeug then ignores the test client's Content-Length
        environ_overrides={"wsgi.input_terminated": True},
        **kwargs,
    )


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_a_chunked_form_over_the_limit_is_413_json_on_protocol_paths(app, path):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b"grant_type=client_credentials&client_id=x&pad=" + b"a" * limit
    response = _chunked(app.test_client(), path, body, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"


def test_a_chunked_form_over_the_limit_is_the_413_page_on_a_page(app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = _chunked(app.test_client(), "/login", b"email=a%40b.c&pad=" + b"a" * limit, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "Too much data" in response.get_data(as_text=True)


def test_a_chunked_json_body_over_the_limit_is_413(app):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"client_name": "x", "pad": "a" * limit}).encode()
    response = _chunked(app.test_client(), "/oauth/register", body, "application/json")
    assert response.status_code == 413


def test_a_small_chunked_body_is_read_whole(rp, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api")
    body = b"grant_type=client_credentials&scope=api"
    response = _chunked(rp.http, "/oauth/token", body, "application/x-www-form-urlencoded", auth=(client.client_id, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["access_token"]


# --- whatever else fails to decode is 400, not 500 ---


def test_a_form_body_that_is_not_utf8_is_not_a_500(app):
    response = app.test_client().post(
        "/oauth/token", data=b"grant_type=\xff\xfe", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"]


def test_a_unicode_digit_page_number_is_not_a_500(app, rp, user, create_user):
    rp.auth.login(user.email)
    assert rp.http.get("/account/history?page=%C2%B2").status_code == 404  # '²'.isdigit(), but int('²') raises
    admin = create_user(email="root@example.com", is_admin=True)
    console = app.test_client()
    sign_in_with_totp(console, app, admin)
    assert console.get("/admin/sessions?page=%C2%B2").status_code == 400
    assert console.get("/admin/audit?page=%C2%B2").status_code == 400
    assert console.get("/admin/users/?page=%C2%B2").status_code == 404


def test_deeply_nested_json_at_a_passkey_endpoint_is_not_a_500(rp, user):
    rp.auth.login(user.email)
    token = csrf_from(rp.http.get("/mfa/").get_data(as_text=True))
    response = rp.http.post(
        "/mfa/webauthn/register/options",
        data="[" * 2000 + "]" * 2000,
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code < 500


@pytest.mark.parametrize(
    "error",
    [UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), ValueError("x"), OverflowError(), RecursionError()],
)
def test_a_decode_or_parse_error_anywhere_is_400_json_on_protocol_paths_and_a_page_elsewhere(app_factory, error):
    app = app_factory()

    def fail():
        raise error

    app.add_url_rule("/oauth/token/boom", "boom_json", fail)
    app.add_url_rule("/boom", "boom_page", fail)
    http = app.test_client()
    machine = http.get("/oauth/token/boom")
    assert machine.status_code == 400 and machine.get_json()["error"] == "invalid_request"
    page = http.get("/boom")
    assert page.status_code == 400 and "Something was wrong with that request" in page.get_data(as_text=True)


@pytest.mark.parametrize("name", ["next", "previous", "label", "endpoint"])
def test_an_unknown_parameter_on_the_audit_log_is_not_a_500(app, create_user, name):
    """Found by tests/property (thorough): ?next= collided with the pager macro's own argument."""
    admin = create_user(email="root@example.com", is_admin=True)
    console = app.test_client()
    sign_in_with_totp(console, app, admin)
    assert console.get(f"/admin/audit?{name}=x").status_code == 200


def test_a_deeply_nested_jwks_in_the_console_is_a_form_error(app, create_user):
    admin = create_user(email="root@example.com", is_admin=True)
    console = app.test_client()
    sign_in_with_totp(console, app, admin)
    token = csrf_from(console.get("/admin/clients/new").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "client_type": "confidential",
        "name": "Deep",
        "redirect_uris": "https://deep.example/cb",
        "grant_types": ["authorization_code"],
        "scope": "openid",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": "[" * 2000 + "]" * 2000,
    }
    response = console.post("/admin/clients/new", data=data)
    assert response.status_code in (200, 400)
    assert "Paste the public keys as a JSON Web Key Set." in response.get_data(as_text=True)


def test_a_deeply_nested_client_assertion_is_invalid_client(app, create_oauth_client):
    client, _ = create_oauth_client()

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    data = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": b64('{"alg":"RS256"}') + "." + b64("[" * 3000 + "]" * 3000) + ".x",
    }
    response = app.test_client().post("/oauth/token", data=data)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
