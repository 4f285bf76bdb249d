"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592): who may register, what is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.core.client_cache import find_client
from app.extensions import db
from app.models import AuditEvent, OAuthClient, OAuthConsent, RefreshToken
from app.security import token_digest
from tests.integration.oauth.conftest import REDIRECT_URI, Issued, count_rows, fresh, params_of

INITIAL_TOKEN = "it_" + "k" * 40
METADATA = {
    "client_name": "Self-Registered RP",
    "redirect_uris": [REDIRECT_URI],
    "post_logout_redirect_uris": ["https://rp.example/signed-out"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "openid profile email",
}
UNREGISTERED_TITLE = "This app registered itself and has not been reviewed"


def register(http, metadata=None, *, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if "data" in kwargs:
        return http.post("/oauth/register", headers=headers, **kwargs)
    return http.post("/oauth/register", json=METADATA if metadata is None else metadata, headers=headers)


def configuration(http, method: str, client_id: str, token: str | None, json=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.open(f"/oauth/register/{client_id}", method=method, headers=headers, json=json)


def row_of(client_id: str) -> OAuthClient | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


@pytest.fixture
def open_registration(app):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    return app


@pytest.fixture
def registered(open_registration, test_client) -> dict:
    response = register(test_client)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_error(response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


# --- who may register ---


def test_registration_is_off_by_default_and_not_advertised(test_client):
    response = register(test_client)

    assert_error(response, "access_denied", 403)
    assert count_rows(OAuthClient) == 0
    assert "registration_endpoint" not in test_client.get("/.well-known/openid-configuration").get_json()


def test_registration_ignores_the_browser_session_and_csrf(test_client, create_user, auth):
    create_user(email="admin@example.com")
    auth.login("admin@example.com")

    assert_error(register(test_client), "access_denied", 403)


@pytest.mark.parametrize("presented", [None, "wrong", INITIAL_TOKEN + "x", INITIAL_TOKEN[:-1]])
def test_with_an_initial_token_configured_only_that_token_registers(app_factory, presented):
    app = app_factory(REGISTRATION_INITIAL_TOKEN=INITIAL_TOKEN)
    http = app.test_client()

    response = register(http, token=presented)

    assert_error(response, "invalid_token", 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    with app.app_context():
        assert count_rows(OAuthClient) == 0


def test_the_initial_token_registers_and_discovery_advertises_the_endpoint(app_factory):
    app = app_factory(REGISTRATION_INITIAL_TOKEN=INITIAL_TOKEN)
    http = app.test_client()

    assert register(http, token=INITIAL_TOKEN).status_code == 201
    metadata = http.get("/.well-known/openid-configuration").get_json()
    assert metadata["registration_endpoint"] == app.config["ISSUER"] + "/oauth/register"


def test_open_registration_needs_no_token_and_is_advertised(app_factory):
    app = app_factory(OPEN_CLIENT_REGISTRATION=True)
    http = app.test_client()

    assert register(http).status_code == 201
    assert "registration_endpoint" in http.get("/.well-known/openid-configuration").get_json()


def test_registration_is_rate_limited_per_ip(app_factory):
    app = app_factory(OPEN_CLIENT_REGISTRATION=True, RATELIMIT_ENABLED=True, LIMIT_REGISTER_CLIENT_IP="2 per minute")
    http = app.test_client()

    def from_ip(ip: str):
        return http.post("/oauth/register", json=METADATA, environ_base={"REMOTE_ADDR": ip})

    assert [from_ip("198.51.100.7").status_code for _ in range(2)] == [201, 201]
    limited = from_ip("198.51.100.7")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert from_ip("198.51.100.8").status_code == 201
    with app.app_context():
        assert count_rows(OAuthClient) == 3


# --- what a registration returns and stores ---


def test_registration_returns_the_metadata_and_one_time_secrets(registered, app):
    issuer = app.config["ISSUER"]

    assert registered["client_secret"].startswith("cs_")
    assert registered["client_secret_expires_at"] == 0
    assert isinstance(registered["client_id_issued_at"], int)
    assert registered["registration_access_token"].startswith("rat_")
    assert registered["registration_client_uri"] == f"{issuer}/oauth/register/{registered['client_id']}"
    assert registered["redirect_uris"] == [REDIRECT_URI]
    assert registered["post_logout_redirect_uris"] == ["https://rp.example/signed-out"]
    assert registered["grant_types"] == ["authorization_code", "refresh_token"]
    assert registered["response_types"] == ["code"]
    assert registered["token_endpoint_auth_method"] == "client_secret_basic"
    assert registered["scope"] == "openid profile email"
    assert registered["application_type"] == "web"


def test_only_digests_of_the_secret_and_registration_token_are_stored(registered):
    row = row_of(registered["client_id"])

    assert row.client_secret_digest == token_digest(registered["client_secret"])
    assert row.registration_token_digest == token_digest(registered["registration_access_token"])
    stored = " ".join(str(getattr(row, column.key)) for column in OAuthClient.__table__.columns)
    assert registered["client_secret"] not in stored
    assert registered["registration_access_token"] not in stored
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "oauth.client_registered")).all()
    assert len(events) == 1 and events[0].details["client_id"] == registered["client_id"]
    assert registered["client_secret"] not in str(events[0].details)


def test_registered_clients_are_flagged_and_never_first_party(open_registration, test_client):
    body = register(test_client, {**METADATA, "is_first_party": True, "allow_plain_code_flow": True}).get_json()

    row = row_of(body["client_id"])
    assert row.is_dynamically_registered is True
    assert row.is_first_party is False
    assert row.allow_plain_code_flow is False


def test_the_secret_is_shown_once(registered, test_client):
    read = configuration(test_client, "GET", registered["client_id"], registered["registration_access_token"])

    assert read.status_code == 200
    assert "client_secret" not in read.get_json()
    assert read.headers["Cache-Control"] == "no-store"


def test_a_public_client_gets_no_secret(open_registration, test_client):
    body = register(test_client, {**METADATA, "token_endpoint_auth_method": "none"}).get_json()

    assert "client_secret" not in body and "client_secret_expires_at" not in body
    row = row_of(body["client_id"])
    assert row.is_confidential is False and row.client_secret_digest is None


def test_defaults_follow_rfc_7591(open_registration, test_client):
    body = register(test_client, {"redirect_uris": [REDIRECT_URI]}).get_json()

    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["scope"] == "openid profile email"
    assert body["client_name"] == "Unnamed app"


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:8765/cb", "http://localhost/cb", "http://[::1]:9000/cb", "https://rp.example/cb?tenant=1"],
)
def test_loopback_http_and_https_redirects_are_accepted(open_registration, test_client, uri):
    assert register(test_client, {**METADATA, "redirect_uris": [uri]}).status_code == 201


def test_a_native_app_may_use_a_private_use_scheme(open_registration, test_client):
    native = {**METADATA, "application_type": "native", "redirect_uris": ["com.example.app:/oauth2redirect"]}

    body = register(test_client, native).get_json()

    assert body["redirect_uris"] == ["com.example.app:/oauth2redirect"]
    assert body["application_type"] == "native"


# --- what is refused ---

BAD_REDIRECT_URIS = [
    "http://rp.example/cb",  # http off loopback
    "HTTP://rp.example/cb",
    "https://rp.example/cb#fragment",
    "https://rp.example/cb#",
    "https://user@rp.example/cb",
    "https://user:pw@rp.example/cb",
    "https://rp.example@evil.example/cb",
    "javascript:alert(1)",
    "JavaScript:alert(1)//",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html,x",
    "vbscript:msgbox",
    "file:///etc/passwd",
    "com.example.app:/cb",  # private-use scheme without application_type native
    "/relative/cb",
    "//rp.example/cb",
    "rp.example/cb",
    "https:///no-host",
    "https://rp.example/c b",
    "https://rp.example/cb\n",
    "",
    "https://rp.example/" + "a" * 500,
]


@pytest.mark.parametrize("uri", BAD_REDIRECT_URIS)
def test_every_unsafe_redirect_uri_is_refused(open_registration, test_client, uri):
    response = register(test_client, {**METADATA, "redirect_uris": [REDIRECT_URI, uri]})

    assert_error(response, "invalid_redirect_uri")
    assert count_rows(OAuthClient) == 0


@pytest.mark.parametrize("uri", ["http://rp.example/out", "https://rp.example/out#x", "javascript:alert(1)"])
def test_unsafe_post_logout_redirect_uris_are_refused_too(open_registration, test_client, uri):
    response = register(test_client, {**METADATA, "post_logout_redirect_uris": [uri]})

    assert_error(response, "invalid_redirect_uri")


@pytest.mark.parametrize(
    "redirect_uris",
    [None, [], "https://rp.example/cb", [123], [REDIRECT_URI] * 1 + [f"https://rp.example/{n}" for n in range(10)]],
)
def test_the_code_flow_needs_a_proper_list_of_redirect_uris(open_registration, test_client, redirect_uris):
    metadata = {k: v for k, v in METADATA.items() if k != "redirect_uris"}
    if redirect_uris is not None:
        metadata["redirect_uris"] = redirect_uris

    assert_error(register(test_client, metadata), "invalid_redirect_uri")


@pytest.mark.parametrize(
    "change",
    [
        {"grant_types": ["implicit"]},
        {"grant_types": ["password"]},
        {"grant_types": ["authorization_code", "password"]},
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]},
        {"grant_types": ["refresh_token"]},
        {"grant_types": []},
        {"grant_types": "authorization_code"},
        {"response_types": ["token"]},
        {"response_types": ["code", "token"]},
        {"response_types": ["code id_token"]},
        {"response_types": ["id_token"]},
        {"response_types": []},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": "client_secret_jwt"},
        {"token_endpoint_auth_method": "tls_client_auth"},
        {"token_endpoint_auth_method": 1},
        {"scope": "openid admin"},
        {"scope": "api:write"},
        {"scope": ""},
        {"scope": ["openid"]},
        {"application_type": "service"},
        {"client_name": "Bank\nof Trust"},
        {"client_name": "x" * 101},
        {"logo_uri": "http://rp.example/logo.png"},
        {"policy_uri": "javascript:alert(1)"},
        {"id_token_signed_response_alg": "none"},
        {"id_token_signed_response_alg": "HS256"},
        {"subject_type": "pairwise"},
        {"userinfo_signed_response_alg": "none"},
        {"id_token_encrypted_response_alg": "RSA-OAEP"},
    ],
)
def test_unsupported_or_malformed_metadata_is_refused(open_registration, test_client, change):
    response = register(test_client, {**METADATA, **change})

    assert_error(response, "invalid_client_metadata")
    assert count_rows(OAuthClient) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "not json", "content_type": "application/json"},
        {"data": {"client_name": "Form"}},
        {"data": "[1, 2]", "content_type": "application/json"},
        {"data": "null", "content_type": "application/json"},
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(open_registration, test_client, kwargs):
    assert_error(register(test_client, **kwargs), "invalid_client_metadata")


def test_accepted_defaults_for_understood_metadata_are_fine(open_registration, test_client):
    metadata = {**METADATA, "id_token_signed_response_alg": "RS256", "subject_type": "public", "contacts": ["a@rp.example"]}

    assert register(test_client, metadata).status_code == 201


# --- RFC 7592: read, update, delete ---


def test_read_returns_the_registered_metadata(registered, test_client):
    response = configuration(test_client, "GET", registered["client_id"], registered["registration_access_token"])

    assert response.status_code == 200
    expected = {k: v for k, v in registered.items() if k != "client_secret"}
    assert response.get_json() == expected


def _other_client(test_client) -> dict:
    return register(test_client, {**METADATA, "client_name": "Other"}).get_json()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("which", ["missing", "garbage", "other client's", "initial access token", "client secret"])
def test_a_wrong_registration_token_is_401_and_changes_nothing(registered, test_client, app, method, which):
    app.config["REGISTRATION_INITIAL_TOKEN"] = INITIAL_TOKEN
    token = {
        "missing": None,
        "garbage": "rat_" + "A" * 43,
        "other client's": _other_client(test_client)["registration_access_token"],
        "initial access token": INITIAL_TOKEN,
        "client secret": registered["client_secret"],
    }[which]
    body = {**METADATA, "client_id": registered["client_id"], "client_name": "Renamed"}

    response = configuration(test_client, method, registered["client_id"], token, json=body if method == "PUT" else None)

    assert_error(response, "invalid_token", 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert row_of(registered["client_id"]).name == "Self-Registered RP"


def test_unknown_and_operator_clients_look_the_same_as_a_wrong_token(registered, test_client, create_oauth_client):
    operator_client, _ = create_oauth_client()
    token = registered["registration_access_token"]

    answers = [
        configuration(test_client, "GET", client_id, token)
        for client_id in ("no-such-client", operator_client.client_id, "x" * 200)
    ]

    assert {r.status_code for r in answers} == {401}
    assert len({r.get_data() for r in answers}) == 1


def test_update_replaces_the_metadata_and_keeps_the_secret(registered, test_client, app):
    client_id, token = registered["client_id"], registered["registration_access_token"]
    find_client(client_id)  # this process now has the old version cached
    update = {
        "client_id": client_id,
        "client_secret": registered["client_secret"],
        "client_name": "Renamed RP",
        "redirect_uris": ["https://rp.example/new-cb"],
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "openid email offline_access",
    }

    response = configuration(test_client, "PUT", client_id, token, json=update)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["client_name"] == "Renamed RP"
    assert body["redirect_uris"] == ["https://rp.example/new-cb"]
    assert body["post_logout_redirect_uris"] == []  # omitted in a replacement means empty (RFC 7592 2.2)
    assert body["grant_types"] == ["authorization_code"]
    assert body["registration_access_token"] == token and "client_secret" not in body
    row = row_of(client_id)
    assert row.check_client_secret(registered["client_secret"])
    assert row.token_endpoint_auth_method == "client_secret_post"
    assert row.is_first_party is False and row.is_dynamically_registered is True
    assert find_client(client_id).redirect_uris == ["https://rp.example/new-cb"]  # cache invalidated
    assert "oauth.client_updated" in db.session.scalars(select(AuditEvent.event_type)).all()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
        ({"scope": "openid admin"}, "invalid_client_metadata"),
        ({"client_id": "someone-else"}, "invalid_request"),
        ({"client_id": None}, "invalid_request"),
        ({"client_secret": "cs_guessed"}, "invalid_request"),
        ({"registration_access_token": "rat_mine"}, "invalid_request"),
        ({"client_secret_expires_at": 0}, "invalid_request"),
        ({"client_id_issued_at": 1}, "invalid_request"),
        ({"registration_client_uri": "https://evil.example/"}, "invalid_request"),
    ],
)
def test_an_invalid_update_is_refused_and_changes_nothing(registered, test_client, change, error):
    client_id = registered["client_id"]
    update = {**METADATA, "client_id": client_id, "client_name": "Renamed", **change}
    update = {k: v for k, v in update.items() if v is not None}

    response = configuration(test_client, "PUT", client_id, registered["registration_access_token"], json=update)

    assert_error(response, error)
    row = row_of(client_id)
    assert row.name == "Self-Registered RP" and row.redirect_uris == [REDIRECT_URI]


def test_delete_revokes_tokens_and_removes_the_client(open_registration, test_client, rp, create_user):
    body = register(test_client).get_json()
    user = create_user(email="ada@example.com")
    client = row_of(body["client_id"])
    tokens = rp.tokens(client, body["client_secret"], user)
    assert count_rows(OAuthConsent) == 1

    response = configuration(test_client, "DELETE", body["client_id"], body["registration_access_token"])

    assert response.status_code == 204 and response.get_data() == b""
    assert row_of(body["client_id"]) is None
    assert count_rows(OAuthConsent) == 0 and count_rows(RefreshToken) == 0
    assert find_client(body["client_id"]) is None
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    gone = SimpleNamespace(client_id=body["client_id"])  # the row is deleted; only its id is left to send
    assert rp.refresh(gone, body["client_secret"], tokens["refresh_token"]).status_code == 401
    again = configuration(test_client, "GET", body["client_id"], body["registration_access_token"])
    assert_error(again, "invalid_token", 401)
    assert "oauth.client_deleted" in db.session.scalars(select(AuditEvent.event_type)).all()


# --- a registered client in use ---


def test_a_registered_client_completes_the_code_flow_after_a_flagged_consent(registered, rp, create_user):
    user = create_user(email="ada@example.com")
    client = row_of(registered["client_id"])
    assert rp.auth.login(user.email).status_code == 303
    pending = rp.request(client)

    consent = rp.authorize(pending)

    assert consent.status_code == 200
    assert UNREGISTERED_TITLE in consent.get_data(as_text=True)
    location = params_of(rp.answer(consent))
    assert location["state"] == pending.params["state"]
    issued = Issued(location["code"], pending.verifier, REDIRECT_URI)
    response = rp.redeem(client, registered["client_secret"], issued)
    assert response.status_code == 200, response.get_json()
    assert {"access_token", "id_token", "refresh_token"} <= set(response.get_json())


def test_a_registered_public_client_completes_the_code_flow(open_registration, test_client, rp, create_user):
    body = register(test_client, {**METADATA, "token_endpoint_auth_method": "none"}).get_json()
    user = create_user(email="ada@example.com")
    client = fresh(OAuthClient, row_of(body["client_id"]).id)

    tokens = rp.tokens(client, None, user)

    assert tokens["token_type"] == "Bearer" and "id_token" in tokens


def test_a_registered_client_with_client_secret_post_authenticates_that_way(open_registration, test_client, rp, create_user):
    body = register(test_client, {**METADATA, "token_endpoint_auth_method": "client_secret_post"}).get_json()
    user = create_user(email="ada@example.com")
    client = row_of(body["client_id"])
    issued = rp.code(client, user)

    assert rp.redeem(client, body["client_secret"], issued, method="client_secret_basic").status_code == 401
    issued = rp.code(client)
    assert rp.redeem(client, body["client_secret"], issued, method="client_secret_post").status_code == 200
