"""Connected apps: each consented (or first-party, token-holding) app with its scopes in words, when it
was allowed and its live refresh tokens; revoking forgets the consent and kills every token the app holds
for the person, so it must ask again. Another person's consent and unknown clients are 404."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core.scopes import describe_scope
from app.extensions import db
from app.models import AuditEvent, OAuthConsent, User
from tests.conftest import AuthActions, audit_types, csrf_from, shown_time

# The RP helper and its fixtures (clients, pooled signing keys, a resource server that introspects).
from tests.integration.oauth.conftest import (  # noqa: F401
    RelyingParty,
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
    resource_server,
    rp,
)

SCOPES = "openid profile email"


@pytest.fixture
def ada(create_user) -> User:
    return create_user(email="ada@example.com")


@pytest.fixture
def grace(create_user) -> User:
    return create_user(email="grace@example.com")


@pytest.fixture
def printer(create_oauth_client):
    """A third-party app: it asks for consent."""
    return create_oauth_client(name="Photo Printer")


def page_text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def listed(client: FlaskClient) -> dict[str, str]:
    """The connected apps page as {client_id: the entry's HTML}."""
    response = client.get("/account/apps")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    return dict(re.findall(r'<li class="factor connected-app" id="app-([^"]+)">(.*?)>Revoke access</a>', body, re.DOTALL))


def revoke(client: FlaskClient, client_id: str, *, with_csrf: bool = True, confirmed: bool = True):
    """The confirmation page's POST; `confirmed=False` leaves out the field only that page's form sends."""
    # The apps page itself has no form (its buttons lead to the confirmation page): the token of the sessions page.
    data = {"csrf_token": csrf_from(client.get("/account/sessions").get_data(as_text=True))} if with_csrf else {}
    if confirmed:
        data["confirm"] = "1"
    return client.post(f"/account/apps/{client_id}/revoke", data=data)


def consent_of(user: User, oauth_client) -> OAuthConsent | None:
    db.session.rollback()
    return db.session.scalar(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_id == oauth_client.id)
    )


def refresh_error(rp: RelyingParty, oauth_client, secret, refresh_token: str) -> str | None:
    """None when the refresh token still works; else the token endpoint's error code."""
    response = rp.refresh(oauth_client, secret, refresh_token)
    return None if response.status_code == 200 else response.get_json()["error"]


def active(rp: RelyingParty, resource, token: str) -> bool:
    response = rp.introspect(*resource, token)
    assert response.status_code == 200
    return response.get_json()["active"]


def second_browser(app: Flask, user: User) -> tuple[FlaskClient, RelyingParty]:
    client = app.test_client()
    assert AuthActions(client).login(user.email).status_code == 303
    return client, RelyingParty(app, client, AuthActions(client))


# --- the page ---


def test_the_page_lists_a_consented_app_with_scopes_in_words_when_and_its_refresh_tokens(rp, ada, printer, create_oauth_client):
    client, secret = printer
    rp.tokens(client, secret, ada, scope=SCOPES)
    rp.tokens(client, secret, scope=SCOPES)  # a second family: signed in, consent remembered
    quiet, _ = create_oauth_client(name="Quiet App", logo_uri="https://rp.example/quiet.png")
    rp.code(quiet, scope="openid")  # consented, code never redeemed: no tokens
    consent = consent_of(ada, client)

    entries = listed(rp.http)

    assert set(entries) == {client.client_id, quiet.client_id}
    text = page_text(entries[client.client_id])
    assert "Photo Printer" in text and "first-party" not in text
    for scope in SCOPES.split():
        assert f'data-scope="{scope}">{html.escape(describe_scope(scope))}</li>' in entries[client.client_id]
    assert f"Allowed {' '.join(shown_time(rp.app, consent.granted_at).split())}" in text
    assert "2 active refresh tokens, last issued" in text
    quiet_text = page_text(entries[quiet.client_id])
    assert "No active refresh tokens" in quiet_text and describe_scope("profile") not in quiet_text
    assert '<img class="client-logo" src="https://rp.example/quiet.png"' in entries[quiet.client_id]


def test_a_rotated_refresh_token_counts_once(rp, ada, printer):
    client, secret = printer
    tokens = rp.tokens(client, secret, ada)
    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200

    assert "1 active refresh token, last issued" in page_text(listed(rp.http)[client.client_id])


def test_a_first_party_app_holding_tokens_is_listed_as_first_party(rp, ada, first_party, create_oauth_client):
    client, secret = first_party
    idle_first_party, _ = create_oauth_client(name="Idle Console", is_first_party=True)
    rp.tokens(client, secret, ada)
    rp.code(idle_first_party)  # no consent row, no tokens: nothing to list

    entries = listed(rp.http)

    assert list(entries) == [client.client_id]
    text = page_text(entries[client.client_id])
    assert "First Party" in text and "first-party" in text and "1 active refresh token" in text
    assert describe_scope("email") in text  # what its tokens allow


def test_only_the_persons_own_apps_are_listed(app, rp, ada, grace, printer, create_oauth_client):
    client, secret = printer
    theirs, their_secret = create_oauth_client(name="Grace's Diary")
    _, graces_rp = second_browser(app, grace)
    graces_rp.tokens(theirs, their_secret)
    rp.auth.login(ada.email)

    assert listed(rp.http) == {}
    assert "No apps are connected to your account." in rp.http.get("/account/apps").get_data(as_text=True)


def test_the_page_needs_a_signed_in_person(test_client):
    response = test_client.get("/account/apps")

    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- revoking ---


def test_revoking_forgets_the_consent_and_kills_the_apps_tokens(rp, ada, printer, resource_server):
    client, secret = printer
    tokens = rp.tokens(client, secret, ada)
    refreshed = rp.refresh(client, secret, tokens["refresh_token"]).get_json()

    response = revoke(rp.http, client.client_id)

    assert response.status_code == 303 and response.headers["Location"] == "/account/apps"
    page = html.unescape(rp.http.get("/account/apps").get_data(as_text=True))
    assert "Photo Printer no longer has access to your account." in page
    assert client.client_id not in listed(rp.http)
    assert consent_of(ada, client) is None
    # The refresh token fails at the token endpoint and reads inactive at introspection; the access
    # tokens (the first one too, from before the rotation) are deny-listed.
    assert refresh_error(rp, client, secret, refreshed["refresh_token"]) == "invalid_grant"
    assert not active(rp, resource_server, refreshed["refresh_token"])
    assert not active(rp, resource_server, refreshed["access_token"])
    assert not active(rp, resource_server, tokens["access_token"])
    assert rp.userinfo(refreshed["access_token"]).status_code == 401
    db.session.rollback()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "oauth.consent_revoked"))
    assert event.subject_user_id == ada.id
    assert event.details == {"client_id": client.client_id, "had_consent": True, "app_grants_ended": 1}


def test_after_revoking_the_app_must_ask_for_consent_again(rp, ada, printer):
    client, secret = printer
    rp.tokens(client, secret, ada)
    assert rp.authorize(rp.request(client)).status_code in (302, 303)  # remembered: straight back

    revoke(rp.http, client.client_id)

    page = rp.authorize(rp.request(client))
    assert page.status_code == 200
    assert rp.consent_action(page)  # the consent page again


def test_an_access_token_without_a_refresh_token_is_revoked_too(rp, ada, create_oauth_client, resource_server):
    client, secret = create_oauth_client(name="Short Lived", grant_types=["authorization_code"])
    tokens = rp.tokens(client, secret, ada)
    assert "refresh_token" not in tokens

    assert revoke(rp.http, client.client_id).status_code == 303

    assert not active(rp, resource_server, tokens["access_token"])
    assert rp.userinfo(tokens["access_token"]).status_code == 401


def test_revoking_a_first_party_app_revokes_its_tokens(rp, ada, first_party, resource_server):
    client, secret = first_party
    tokens = rp.tokens(client, secret, ada)

    assert revoke(rp.http, client.client_id).status_code == 303

    assert refresh_error(rp, client, secret, tokens["refresh_token"]) == "invalid_grant"
    assert not active(rp, resource_server, tokens["refresh_token"])
    assert listed(rp.http) == {}
    db.session.rollback()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "oauth.consent_revoked"))
    assert event.details["had_consent"] is False


def test_revoking_touches_only_this_persons_tokens_at_that_app(app, rp, ada, grace, printer, create_oauth_client):
    client, secret = printer
    other, other_secret = create_oauth_client(name="Other App")
    _, graces_rp = second_browser(app, grace)
    graces = graces_rp.tokens(client, secret)
    own_other = rp.tokens(other, other_secret, ada)
    rp.tokens(client, secret)

    assert revoke(rp.http, client.client_id).status_code == 303

    assert refresh_error(rp, client, secret, graces["refresh_token"]) is None
    assert consent_of(grace, client) is not None
    assert refresh_error(rp, other, other_secret, own_other["refresh_token"]) is None
    assert consent_of(ada, other) is not None


# --- bad input: nothing changes ---


def test_revoking_another_persons_consent_is_404_and_changes_nothing(app, rp, ada, grace, printer):
    client, secret = printer
    _, graces_rp = second_browser(app, grace)
    graces = graces_rp.tokens(client, secret)
    rp.auth.login(ada.email)
    before = audit_types()

    response = revoke(rp.http, client.client_id)

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    assert audit_types() == before
    assert consent_of(grace, client) is not None
    assert refresh_error(rp, client, secret, graces["refresh_token"]) is None


@pytest.mark.parametrize("client_id", ["no-such-client", "x" * 65, "<script>", "%00"])
def test_an_unknown_client_is_404(rp, ada, client_id):
    rp.auth.login(ada.email)

    response = revoke(rp.http, client_id)

    assert response.status_code == 404
    assert "oauth.consent_revoked" not in audit_types()


@pytest.mark.parametrize("missing", ["csrf_token", "confirm"])
def test_without_the_csrf_token_or_the_confirmation_nothing_is_revoked(rp, ada, printer, missing):
    client, secret = printer
    tokens = rp.tokens(client, secret, ada)

    response = revoke(rp.http, client.client_id, with_csrf=missing != "csrf_token", confirmed=missing != "confirm")

    assert response.status_code == 400
    assert consent_of(ada, client) is not None
    assert refresh_error(rp, client, secret, tokens["refresh_token"]) is None
    assert "oauth.consent_revoked" not in audit_types()


def test_the_confirmation_page_names_the_app_and_posts_the_confirmation(rp, ada, printer):
    client, secret = printer
    rp.tokens(client, secret, ada)
    assert f'href="/account/apps/{client.client_id}/revoke"' in rp.http.get("/account/apps").get_data(as_text=True)

    page = rp.http.get(f"/account/apps/{client.client_id}/revoke")

    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "<h1>Revoke access for Photo Printer?</h1>" in text
    assert 'name="confirm" type="hidden" value="1"' in text and 'class="button danger"' in text
    assert 'href="/account/apps">Cancel</a>' in text
    assert consent_of(ada, client) is not None  # asking changes nothing


def test_the_confirmation_page_of_an_app_not_connected_is_404(rp, ada):
    rp.auth.login(ada.email)

    assert rp.http.get("/account/apps/no-such-client/revoke").status_code == 404


def test_revoking_twice_is_404_the_second_time(rp, ada, printer):
    client, secret = printer
    rp.tokens(client, secret, ada)
    assert revoke(rp.http, client.client_id).status_code == 303

    assert revoke(rp.http, client.client_id).status_code == 404
    assert audit_types().count("oauth.consent_revoked") == 1


def test_an_app_whose_client_id_is_a_url_can_be_revoked_too(rp, ada, create_oauth_client):
    """Client ID Metadata Documents: the client_id is an https URL, slashes and all, in the page's links."""
    client, _ = create_oauth_client(name="Agent", is_confidential=False, client_id="https://agent.example/oauth/client.json")
    db.session.add(OAuthConsent(user_id=ada.id, client_id=client.id, scope="openid profile"))
    db.session.commit()
    assert rp.auth.login(ada.email).status_code == 303
    assert client.client_id in listed(rp.http)

    asked = rp.http.get(f"/account/apps/{client.client_id}/revoke")
    assert asked.status_code == 200 and "Agent" in asked.get_data(as_text=True)
    assert revoke(rp.http, client.client_id).status_code == 303
    assert consent_of(ada, client) is None
