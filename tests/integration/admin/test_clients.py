"""Client administration in the console: who may use it, each action, its bad input, and its effect on tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, OAuthClient, RefreshToken, UserSession
from app.models.base import utcnow
from tests.conftest import AuthActions, audit_types, csrf_from
from tests.integration.admin.conftest import sign_in_with_totp
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures used by name)
    REDIRECT_URI,
    RelyingParty,
    _pooled_signing_keys,
    create_oauth_client,
    fresh,
)

SECRET_ON_PAGE = re.compile(r'<code id="client-secret">([^<]+)</code>')
CLIENT_ID_ON_PAGE = re.compile(r'<code id="client-id">([^<]+)</code>')
CREATE = {
    "client_type": "confidential",
    "name": "Billing",
    "redirect_uris": "https://billing.example/cb\nhttp://127.0.0.1/cb",
    "post_logout_redirect_uris": "https://billing.example/bye",
    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    "scope": "openid profile invoices:read",
    "token_endpoint_auth_method": "client_secret_basic",
    "logo_uri": "https://billing.example/logo.png",
    "roles_claim": "y",
}


# --- fixtures (the admin and their `console` come from conftest.py) ---


@pytest.fixture
def confidential(create_oauth_client):
    return create_oauth_client(
        name="Reports", grant_types=["authorization_code", "refresh_token", "client_credentials"], scope="openid api"
    )


# The confirm page's button: without it a destructive POST only gets the page back (app/admin/confirmation.py).
CONFIRMED = {"confirmed": "yes"}


def post_form(console: FlaskClient, path: str, data: dict, page: str | None = None):
    token = csrf_from(console.get(page or path).get_data(as_text=True))
    return console.post(path, data={**data, "csrf_token": token})


def client_credentials(http: FlaskClient, client_id: str, secret: str, scope: str = "api"):
    return http.post("/oauth/token", auth=(client_id, secret), data={"grant_type": "client_credentials", "scope": scope})


def client_row(client_id: str) -> OAuthClient | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


# --- authorization: every route, three kinds of refused visitor ---


def routes(client_id: str) -> list[tuple[str, str]]:
    base = f"/admin/clients/{client_id}"
    return [
        ("GET", "/admin/clients"),
        ("GET", "/admin/clients/new"),
        ("POST", "/admin/clients/new"),
        ("GET", base),
        ("POST", f"{base}/edit"),
        ("GET", f"{base}/rotate-secret"),
        ("POST", f"{base}/rotate-secret"),
        ("GET", f"{base}/disable"),
        ("POST", f"{base}/disable"),
        ("POST", f"{base}/enable"),
        ("GET", f"{base}/delete"),
        ("POST", f"{base}/delete"),
    ]


def test_anonymous_visitors_are_sent_to_sign_in(app, confidential, subtests):
    client, _ = confidential
    http = app.test_client()
    token = csrf_from(http.get("/login").get_data(as_text=True))  # CSRF passes; the guard must refuse
    for method, path in routes(client.client_id):
        with subtests.test(method=method, path=path):
            response = http.open(path, method=method, data={"csrf_token": token})
            assert response.status_code in (302, 303)
            assert response.headers["Location"].startswith("/login")
    assert client_row(client.client_id).is_disabled is False


def test_signed_in_non_admins_get_403_and_no_data(app, create_user, confidential, subtests):
    client, _ = confidential
    person = create_user(email="person@example.com")
    http = app.test_client()
    sign_in_with_totp(http, app, person)
    token = csrf_from(http.get("/account/").get_data(as_text=True))
    for method, path in routes(client.client_id):
        with subtests.test(method=method, path=path):
            response = http.open(path, method=method, data={"csrf_token": token})
            assert response.status_code == 403
            assert client.client_id not in response.get_data(as_text=True)
    assert client_row(client.client_id) is not None and not client_row(client.client_id).is_disabled


def test_admins_without_a_recent_second_factor_are_sent_to_the_challenge(app, admin, console, confidential, subtests):
    client, _ = confidential
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == admin.id, UserSession.revoked_at.is_(None)))
    row.auth_time = utcnow() - timedelta(seconds=app.config["ADMIN_MFA_MAX_AGE_SECONDS"] + 60)
    db.session.commit()
    token = csrf_from(console.get("/account/").get_data(as_text=True))
    for method, path in routes(client.client_id):
        with subtests.test(method=method, path=path):
            response = console.open(path, method=method, data={"csrf_token": token})
            assert response.status_code in (302, 303)
            assert response.headers["Location"].endswith("/mfa/challenge")
    assert client_row(client.client_id) is not None and not client_row(client.client_id).is_disabled


# --- list and create ---


def test_the_list_shows_each_client_with_its_type_and_state(console, create_oauth_client):
    create_oauth_client(name="Mobile", is_confidential=False, token_endpoint_auth_method="none", is_first_party=True)
    create_oauth_client(name="Old job", is_disabled=True)

    page = console.get("/admin/clients").get_data(as_text=True)

    assert "Mobile" in page and "Old job" in page and "public" in page and "confidential" in page
    assert "first-party" in page and "disabled" in page


def test_creating_a_client_shows_its_secret_once_and_the_secret_works(app, console, admin):
    response = post_form(console, "/admin/clients/new", CREATE)

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    secret, client_id = SECRET_ON_PAGE.search(html).group(1), CLIENT_ID_ON_PAGE.search(html).group(1)
    row = client_row(client_id)
    assert row.name == "Billing" and row.is_confidential and row.roles_claim
    assert row.redirect_uris == ["https://billing.example/cb", "http://127.0.0.1/cb"]
    assert row.post_logout_redirect_uris == ["https://billing.example/bye"]
    assert row.scope == "openid profile invoices:read" and row.logo_uri == "https://billing.example/logo.png"
    assert row.client_secret_digest and secret not in row.client_secret_digest
    # Never again: the client's page does not carry it.
    assert secret not in console.get(f"/admin/clients/{client_id}").get_data(as_text=True)
    assert client_credentials(app.test_client(), client_id, secret, "invoices:read").status_code == 200
    (event,) = events("admin.client_created")
    assert event.actor_user_id == admin.id and event.details["client_id"] == client_id
    assert secret not in str(event.details)


def test_a_public_client_gets_no_secret(console):
    data = {**CREATE, "client_type": "public", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"]}

    html = post_form(console, "/admin/clients/new", data).get_data(as_text=True)

    assert not SECRET_ON_PAGE.search(html)
    row = client_row(CLIENT_ID_ON_PAGE.search(html).group(1))
    assert not row.is_confidential and row.client_secret_digest is None and row.token_endpoint_auth_method == "none"


@pytest.mark.parametrize(
    "change, why",
    [
        ({"redirect_uris": "http://billing.example/cb"}, "https"),
        ({"redirect_uris": "https://billing.example/cb#top"}, "fragment"),
        ({"redirect_uris": "javascript:alert(1)"}, "javascript"),
        ({"post_logout_redirect_uris": "http://evil.example/bye"}, "https"),
        ({"client_type": "public", "grant_types": ["authorization_code"]}, "public client has no secret"),
        ({"client_type": "public", "token_endpoint_auth_method": "none"}, "client_credentials needs a confidential"),
        ({"grant_types": ["implicit"]}, "not a valid choice"),
        ({"logo_uri": "http://billing.example/logo.png"}, "https"),
        ({"scope": 'openid "quoted"'}, "Scopes are separated"),
        ({"name": ""}, "Give the app a name"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "{}"}, "private_key_jwt needs jwks"),
    ],
)
def test_bad_settings_are_refused_with_the_reason_and_nothing_is_created(console, change, why):
    response = post_form(console, "/admin/clients/new", {**CREATE, **change})

    assert response.status_code == 400
    assert why in response.get_data(as_text=True)
    assert db.session.scalar(select(OAuthClient)) is None
    assert events("admin.client_created") == []


def test_a_post_without_its_csrf_token_is_refused(console, confidential):
    client, _ = confidential
    base = f"/admin/clients/{client.client_id}"
    for path, data in [
        ("/admin/clients/new", CREATE),
        (f"{base}/edit", {"name": "Changed"}),
        (f"{base}/rotate-secret", {}),
        (f"{base}/disable", {}),
        (f"{base}/enable", {}),
        (f"{base}/delete", {}),
    ]:
        assert console.post(path, data=data).status_code == 400, path
    row = client_row(client.client_id)
    assert row.name == "Reports" and not row.is_disabled
    assert db.session.scalar(select(OAuthClient).where(OAuthClient.name == "Billing")) is None


def test_unknown_clients_are_404(console, subtests):
    for method, path in routes("no-such-client")[3:]:
        with subtests.test(method=method, path=path):
            token = csrf_from(console.get("/admin/clients/new").get_data(as_text=True))
            assert console.open(path, method=method, data={"csrf_token": token}).status_code == 404


# --- edit ---


def edit_data(client: OAuthClient, **changes) -> dict:
    data = {
        "name": client.name,
        "redirect_uris": "\n".join(client.redirect_uris),
        "post_logout_redirect_uris": "",
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_editing_replaces_the_settings_and_is_audited(console, admin, confidential):
    client, _ = confidential
    data = edit_data(
        client,
        redirect_uris="https://reports.example/callback",
        post_logout_redirect_uris="https://reports.example/",
        scope="openid api roles",
        token_endpoint_auth_method="client_secret_post",
        is_first_party="y",
        roles_claim="y",
        require_par="y",
        policy_uri="https://reports.example/privacy",
    )

    response = post_form(console, f"/admin/clients/{client.client_id}/edit", data, f"/admin/clients/{client.client_id}")

    assert response.status_code == 303
    row = client_row(client.client_id)
    assert row.redirect_uris == ["https://reports.example/callback"]
    assert row.post_logout_redirect_uris == ["https://reports.example/"]
    assert row.scope == "openid api roles" and row.token_endpoint_auth_method == "client_secret_post"
    assert row.is_first_party and row.roles_claim and row.policy_uri == "https://reports.example/privacy"
    assert row.require_pushed_authorization_requests
    (event,) = events("admin.client_updated")
    assert event.actor_user_id == admin.id
    assert {"redirect_uris", "scope", "roles_claim", "is_first_party", "require_pushed_authorization_requests"} <= set(
        event.details["fields"]
    )


@pytest.mark.parametrize(
    "change, why",
    [
        ({"redirect_uris": "http://reports.example/cb"}, "https"),
        ({"redirect_uris": "https://reports.example/cb#x"}, "fragment"),
        ({"token_endpoint_auth_method": "none"}, "can&#39;t be none"),
        ({"redirect_uris": "", "grant_types": ["authorization_code"]}, "needs at least one redirect URI"),
    ],
)
def test_a_refused_edit_changes_nothing(console, confidential, change, why):
    client, _ = confidential
    path = f"/admin/clients/{client.client_id}"

    response = post_form(console, f"{path}/edit", edit_data(client, **change), path)

    assert response.status_code == 400
    assert why in response.get_data(as_text=True)
    row = client_row(client.client_id)
    assert row.redirect_uris == [REDIRECT_URI] and row.token_endpoint_auth_method == "client_secret_basic"
    assert events("admin.client_updated") == []


def test_a_public_client_can_not_be_given_a_secret_method(console, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False, token_endpoint_auth_method="none")
    path = f"/admin/clients/{client.client_id}"

    response = post_form(console, f"{path}/edit", edit_data(client, token_endpoint_auth_method="client_secret_basic"), path)

    assert response.status_code == 400
    assert "public client has no secret" in response.get_data(as_text=True)
    assert client_row(client.client_id).token_endpoint_auth_method == "none"


# --- rotate, disable, enable, delete ---


def test_rotating_the_secret_stops_the_old_one_at_once(app, console, admin, confidential):
    client, old = confidential
    machine = app.test_client()
    assert client_credentials(machine, client.client_id, old).status_code == 200  # now in the client cache
    path = f"/admin/clients/{client.client_id}/rotate-secret"
    assert "Rotate the secret" in console.get(path).get_data(as_text=True)

    response = post_form(console, path, CONFIRMED)

    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    new = SECRET_ON_PAGE.search(response.get_data(as_text=True)).group(1)
    assert new != old
    refused = client_credentials(machine, client.client_id, old)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert client_credentials(machine, client.client_id, new).status_code == 200
    (event,) = events("admin.client_secret_rotated")
    assert event.actor_user_id == admin.id and new not in str(event.details)


def test_a_public_client_has_no_secret_to_rotate(console, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False, token_endpoint_auth_method="none")

    response = post_form(console, f"/admin/clients/{client.client_id}/rotate-secret", CONFIRMED)

    assert response.status_code == 400
    assert client_row(client.client_id).client_secret_digest is None


def test_disabling_a_client_revokes_its_tokens_and_refuses_its_refresh_token(
    app, console, admin, create_user, create_oauth_client
):
    client, secret = create_oauth_client(name="Web", is_first_party=True)
    person = create_user(email="ada@example.com")
    browser = app.test_client()
    party = RelyingParty(app, browser, AuthActions(browser))
    tokens = party.tokens(client, secret, person, scope="openid offline_access")
    path = f"/admin/clients/{client.client_id}/disable"
    assert "every token it holds is revoked" in console.get(path).get_data(as_text=True)

    assert post_form(console, path, CONFIRMED).status_code == 303

    row = client_row(client.client_id)
    assert row.is_disabled
    assert all(t.revoked_at is not None for t in db.session.scalars(select(RefreshToken)))
    refused = party.refresh(client, secret, tokens["refresh_token"])
    assert refused.status_code in (400, 401) and "access_token" not in refused.get_json()
    assert party.userinfo(tokens["access_token"]).status_code == 401
    assert events("admin.client_disabled")[0].actor_user_id == admin.id


def test_enabling_a_disabled_client_lets_it_get_tokens_again(app, console, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api", is_disabled=True)
    assert client_credentials(app.test_client(), client.client_id, secret).status_code == 401

    response = post_form(console, f"/admin/clients/{client.client_id}/enable", {}, f"/admin/clients/{client.client_id}")

    assert response.status_code == 303 and not client_row(client.client_id).is_disabled
    assert client_credentials(app.test_client(), client.client_id, secret).status_code == 200
    assert "admin.client_enabled" in audit_types()


def test_deleting_asks_first_then_removes_the_client_and_its_tokens(app, console, admin, create_user, first_party):
    client, secret = first_party
    client_id = client.client_id
    person = create_user(email="ada@example.com")
    browser = app.test_client()
    party = RelyingParty(app, browser, AuthActions(browser))
    tokens = party.tokens(client, secret, person, scope="openid offline_access")
    path = f"/admin/clients/{client.client_id}/delete"

    confirm = console.get(path)
    assert confirm.status_code == 200 and "can&#39;t be undone" in confirm.get_data(as_text=True)
    assert client_row(client.client_id) is not None  # asking changed nothing

    response = post_form(console, path, CONFIRMED)

    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/clients")
    assert client_row(client_id) is None
    assert db.session.scalar(select(RefreshToken)) is None
    assert party.userinfo(tokens["access_token"]).status_code == 401
    (event,) = events("admin.client_deleted")
    assert event.actor_user_id == admin.id and event.details["client_id"] == client_id


@pytest.fixture
def first_party(create_oauth_client):
    return create_oauth_client(name="First Party", is_first_party=True)


def test_the_client_form_is_grouped_into_sections_with_tick_boxes_before_their_labels(console, confidential):
    client, _ = confidential
    for path in ("/admin/clients/new", f"/admin/clients/{client.client_id}"):
        html = console.get(path).get_data(as_text=True)
        sections = dict(
            re.findall(r'<fieldset class="form-section" id="section-\w+">\s*<legend>([^<]+)</legend>(.*?)</fieldset>', html, re.S)
        )
        assert list(sections) == ["Basics", "Redirect and logout URIs", "Grants and scopes", "Authentication", "Advanced"]
        expected = {
            "Basics": ["name", "logo_uri", "tos_uri", "policy_uri"],
            "Redirect and logout URIs": ["redirect_uris", "post_logout_redirect_uris"],
            "Grants and scopes": ["grant_types", "scope", "roles_claim"],
            "Authentication": ["token_endpoint_auth_method", "jwks"],
            "Advanced": ["application_type", "is_first_party", "require_par"],
        }
        for legend, names in expected.items():
            for name in names:
                assert f'name="{name}"' in sections[legend], (legend, name)
        for name in ("roles_claim", "is_first_party"):
            assert re.search(rf'<div class="field checkbox">\s*<input[^>]*name="{name}"[^>]*>\s*<label for="{name}">', html)


def test_a_client_whose_client_id_is_a_url_opens_and_can_be_disabled(console, create_oauth_client):
    """Client ID Metadata Documents: the client_id is an https URL, slashes and all, in the console's paths."""
    client, _ = create_oauth_client(name="Agent", is_confidential=False, client_id="https://agent.example/oauth/client.json")

    page = console.get(f"/admin/clients/{client.client_id}")
    assert page.status_code == 200 and "Agent" in page.get_data(as_text=True)
    path = f"/admin/clients/{client.client_id}/disable"
    assert post_form(console, path, CONFIRMED).status_code == 303
    assert client_row(client.client_id).is_disabled


def test_editing_keeps_the_keys_a_client_has_its_id_tokens_encrypted_to(console, create_oauth_client):
    """Encryption is set by the CLI or registration; a console edit of other settings must not strand it."""
    from joserfc.jwk import RSAKey

    public = RSAKey.generate_key(2048).as_dict(private=False)
    client, _ = create_oauth_client(
        name="Encrypted",
        jwks={"keys": [public]},
        id_token_encrypted_response_alg="RSA-OAEP-256",
        id_token_encrypted_response_enc="A256GCM",
    )

    data = edit_data(client, name="Encrypted, renamed")
    assert (
        post_form(console, f"/admin/clients/{client.client_id}/edit", data, f"/admin/clients/{client.client_id}").status_code
        == 303
    )

    row = client_row(client.client_id)
    assert row.name == "Encrypted, renamed" and row.jwks == {"keys": [public]}
