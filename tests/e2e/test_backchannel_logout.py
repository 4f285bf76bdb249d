"""OIDC Back-Channel Logout against the live server: a person signs in to an app in Chromium, signs out at the
IdP, and the app's endpoint receives a logout token it verifies with the published JWKS alone; an app that
hangs does not hold up the sign-out page."""

from __future__ import annotations

import json
import time

import pytest
from authlib.common.security import generate_token
from joserfc import jwt
from playwright.sync_api import Page

from tests.e2e import rp
from tests.e2e.server import LiveServer
from tests.e2e.ui import sign_out
from tests.logout_receiver import LogoutReceiver, logout_receiver

pytestmark = pytest.mark.e2e

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
DELIVERY_TIMEOUT_SECONDS = 5  # IDP_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS, its default: the live server's setting


def app_told_of_sign_outs(server: LiveServer, receiver: LogoutReceiver) -> rp.Client:
    redirect_uri = rp.loopback_redirect_uri()
    output = server.flask(
        "clients", "create", "--name", "Notes", "--scope", rp.SCOPE, "--redirect-uri", redirect_uri,
        "--grant", "authorization_code", "--grant", "refresh_token",
        "--backchannel-logout-uri", receiver.uri, "--backchannel-logout-session-required",
    )  # fmt: skip
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return rp.Client(data["client_id"], data["client_secret"], redirect_uri)


def sign_in_to_the_app(page: Page, server: LiveServer, client: rp.Client, metadata: dict) -> dict:
    """The code flow in Chromium with Authlib's client; the verified ID token's claims."""
    person = rp.create_person(server)
    app = rp.rp_session(client)
    verifier, nonce = generate_token(64), generate_token(16)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = rp.sign_in_and_answer_consent(page, url, person, client.redirect_uri, decision="Allow")
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    return rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])


def verify_logout_token(token: str, metadata: dict, client: rp.Client) -> tuple[dict, dict]:
    """What the app does (section 2.6): signature with the published keys, iss, aud, iat, events, sid/sub, no nonce."""
    decoded = jwt.decode(token, rp.published_keys(metadata), algorithms=metadata["id_token_signing_alg_values_supported"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client.client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    return decoded.header, decoded.claims


def test_signing_out_tells_the_app_with_a_logout_token_it_can_verify(page: Page, live_server: LiveServer) -> None:
    metadata = rp.discover(live_server)
    assert metadata["backchannel_logout_supported"] is True and metadata["backchannel_logout_session_supported"] is True
    with logout_receiver() as receiver:
        client = app_told_of_sign_outs(live_server, receiver)
        id_token = sign_in_to_the_app(page, live_server, client, metadata)
        assert receiver.received == []

        page.goto("/account/")
        sign_out(page)

        [received] = receiver.wait(1)
    assert received.content_type == "application/x-www-form-urlencoded" and received.path == "/backchannel-logout"
    header, claims = verify_logout_token(received.logout_token, metadata, client)
    assert header["typ"] == "logout+jwt"
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert claims["sub"] == id_token["sub"] and claims["sid"] == id_token["sid"]
    assert "nonce" not in claims


def test_an_app_that_hangs_does_not_hold_up_the_sign_out_page(page: Page, live_server: LiveServer) -> None:
    metadata = rp.discover(live_server)
    with logout_receiver(holding=True) as receiver:  # takes the request and never answers
        client = app_told_of_sign_outs(live_server, receiver)
        sign_in_to_the_app(page, live_server, client, metadata)
        page.goto("/account/")

        started = time.monotonic()
        sign_out(page)
        took = time.monotonic() - started

        [held] = receiver.wait(1)  # the app did get its token, and is still sitting on it
        assert not receiver.released.is_set()
    # Delivering inside the request would have kept the page waiting for the delivery's time limit.
    assert took < DELIVERY_TIMEOUT_SECONDS, f"signing out took {took:.1f} s while the app hung"
    verify_logout_token(held.logout_token, metadata, client)
