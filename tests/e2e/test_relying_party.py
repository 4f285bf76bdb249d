"""A real relying party against the live server: Authlib's requests client on the back channel,
headless Chromium for the person's sign-in and consent, joserfc and the JWKS for the ID token.

Nothing listens on the loopback callback: Playwright waits for the browser's request to it, and the
test reads the authorization response from that request's URL, as the RP's callback handler would.
"""

from __future__ import annotations

import time

import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from playwright.sync_api import Page

from tests.e2e import rp
from tests.e2e.server import LiveServer

pytestmark = pytest.mark.e2e


def test_confidential_client_code_flow_with_pkce_refresh_introspection_and_revocation(
    page: Page, live_server: LiveServer
) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(live_server, "E2E Relying Party", redirect_uri=redirect_uri)
    resource = rp.register_client(live_server, "E2E Resource Server")
    person = rp.create_person(live_server, "Ada Lovelace")
    metadata = rp.discover(live_server)
    issuer = metadata["issuer"]

    app = rp.rp_session(client)
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    assert "code_challenge_method=S256" in url and "code_challenge=" in url

    callback = rp.sign_in_and_answer_consent(page, url, person, redirect_uri, decision="Allow")
    answer = rp.query(callback)
    assert answer["state"] == state
    assert answer["iss"] == issuer  # RFC 9207: the RP can tell which issuer answered
    assert set(answer) == {"code", "state", "iss"}

    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    assert tokens["token_type"].lower() == "bearer"
    assert set(tokens["scope"].split()) == set(rp.SCOPE.split())
    assert 0 < tokens["expires_in"] <= 3600
    claims = rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])
    assert claims["auth_time"] <= time.time() + 5
    access_claims = rp.verify_access_token(tokens["access_token"], metadata, client)
    assert access_claims["sub"] == claims["sub"]

    userinfo = app.get(metadata["userinfo_endpoint"], timeout=10)  # the session sends the Bearer token
    assert userinfo.status_code == 200
    person_claims = userinfo.json()
    assert person_claims["sub"] == claims["sub"]
    assert (person_claims["name"], person_claims["email"], person_claims["email_verified"]) == (person.name, person.email, True)

    # Refresh rotates: a new refresh token and a new access token, both valid.
    first_refresh = tokens["refresh_token"]
    refreshed = app.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert refreshed["access_token"] != tokens["access_token"]
    assert rp.userinfo_status(metadata, refreshed["access_token"]) == 200

    # A resource server (a second confidential client) introspects both.
    resource_server = rp.rp_session(resource)
    active = rp.introspect(resource_server, metadata, refreshed["access_token"], "access_token")
    assert active["active"] is True
    assert active["client_id"] == client.client_id
    assert active["sub"] == claims["sub"]
    assert active["iss"] == issuer
    assert set(active["scope"].split()) == set(rp.SCOPE.split())
    assert active["exp"] > time.time()
    assert rp.introspect(resource_server, metadata, refreshed["refresh_token"], "refresh_token")["active"] is True

    # The rotated-out refresh token fails, and its reuse ends the family (RFC 9700 4.14.2).
    with pytest.raises(OAuthError) as reused:
        app.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert reused.value.error == "invalid_grant"
    assert rp.introspect(resource_server, metadata, refreshed["refresh_token"], "refresh_token") == {"active": False}
    assert rp.introspect(resource_server, metadata, refreshed["access_token"], "access_token") == {"active": False}

    # The code was single-use all along: redeeming it again is refused.
    with pytest.raises(OAuthError) as replay:
        rp.rp_session(client).fetch_token(
            metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
        )
    assert replay.value.error == "invalid_grant"

    # Signed in and consent remembered: a new authorization goes straight back with a code (and iss).
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = rp.authorize_again(page, url, redirect_uri)
    answer = rp.query(callback)
    assert (answer["state"], answer["iss"]) == (state, issuer)
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])

    # Revocation (RFC 7009): the access token, then the refresh token; both then read as inactive.
    assert rp.introspect(resource_server, metadata, tokens["access_token"], "access_token")["active"] is True
    revoked = app.revoke_token(metadata["revocation_endpoint"], token=tokens["access_token"], token_type_hint="access_token")
    assert revoked.status_code == 200
    assert rp.introspect(resource_server, metadata, tokens["access_token"], "access_token") == {"active": False}
    assert rp.userinfo_status(metadata, tokens["access_token"]) == 401

    revoked = app.revoke_token(metadata["revocation_endpoint"], token=tokens["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200
    assert rp.introspect(resource_server, metadata, tokens["refresh_token"], "refresh_token") == {"active": False}
    with pytest.raises(OAuthError) as after_revocation:
        app.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert after_revocation.value.error == "invalid_grant"


def test_public_client_code_flow_needs_the_pkce_verifier(page: Page, live_server: LiveServer) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(live_server, "E2E Single-Page App", public=True, redirect_uri=redirect_uri)
    assert client.client_secret is None
    person = rp.create_person(live_server, "Grace Hopper")
    metadata = rp.discover(live_server)
    assert "none" in metadata["token_endpoint_auth_methods_supported"]

    app = rp.rp_session(client, token_endpoint_auth_method="none")
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = rp.sign_in_and_answer_consent(page, url, person, redirect_uri, decision="Allow")
    answer = rp.query(callback)
    assert (answer["state"], answer["iss"]) == (state, metadata["issuer"])

    # Without a secret, the verifier is what proves the caller started the flow.
    with pytest.raises(OAuthError) as wrong_verifier:
        rp.rp_session(client, token_endpoint_auth_method="none").fetch_token(
            metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=generate_token(64)
        )
    assert wrong_verifier.value.error == "invalid_grant"

    # A fresh request (consent is remembered) and the right verifier.
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = rp.authorize_again(page, url, redirect_uri)
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    claims = rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])
    userinfo = app.get(metadata["userinfo_endpoint"], timeout=10)
    assert userinfo.status_code == 200
    assert (userinfo.json()["sub"], userinfo.json()["email"]) == (claims["sub"], person.email)

    # A public client refreshes without a secret, and rotation applies to it too.
    refreshed = app.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert rp.userinfo_status(metadata, refreshed["access_token"]) == 200

    # A code redeemed twice was stolen: the replay is refused and what the code produced dies,
    # the refreshed tokens included (OAuth 2.1 4.1.3).
    with pytest.raises(OAuthError) as replay:
        rp.rp_session(client, token_endpoint_auth_method="none").fetch_token(
            metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
        )
    assert replay.value.error == "invalid_grant"
    assert rp.userinfo_status(metadata, refreshed["access_token"]) == 401
    with pytest.raises(OAuthError) as after_replay:
        app.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert after_replay.value.error == "invalid_grant"


def test_denied_consent_returns_access_denied_with_state(page: Page, live_server: LiveServer) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(live_server, "E2E Declined App", redirect_uri=redirect_uri)
    person = rp.create_person(live_server, "Alan Turing")
    metadata = rp.discover(live_server)

    app = rp.rp_session(client)
    url, state = app.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(32)
    )
    callback = rp.sign_in_and_answer_consent(page, url, person, redirect_uri, decision="Deny")
    answer = rp.query(callback)
    assert answer["error"] == "access_denied"
    assert answer["state"] == state
    assert answer["iss"] == metadata["issuer"]
    assert "code" not in answer
