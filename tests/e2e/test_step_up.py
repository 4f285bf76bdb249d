"""Step-up in Chromium: an app asks for a second factor (acr_values) from a person signed in with a password only;
the IdP asks for the authenticator app, and the ID token then says mfa (acr and amr)."""

from __future__ import annotations

import re

import pytest
from authlib.common.security import generate_token
from playwright.sync_api import Page, expect

from app.core.protocol import ACR_MFA, ACR_PASSWORD
from tests.e2e import rp
from tests.e2e.admin import add_totp
from tests.e2e.server import LiveServer

pytestmark = pytest.mark.e2e


def code_flow(app, metadata: dict, **extra) -> tuple[str, str, str, str]:
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra)
    return url, state, verifier, nonce


def test_an_app_asking_for_mfa_gets_a_step_up_challenge(page: Page, live_server: LiveServer) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(live_server, "E2E Step-up App", redirect_uri=redirect_uri)
    person = rp.create_person(live_server, "Katherine Johnson")
    metadata = rp.discover(live_server)
    app = rp.rp_session(client)

    # Signed in with the password only: the ID token says so.
    url, state, verifier, nonce = code_flow(app, metadata)
    callback = rp.sign_in_and_answer_consent(page, url, person, redirect_uri, decision="Allow")
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    claims = rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])
    assert (claims["acr"], claims["amr"]) == (ACR_PASSWORD, ["pwd"])

    # The person has an authenticator app now; the app asks for a second factor.
    totp = add_totp(live_server, person.email)
    url, state, verifier, nonce = code_flow(app, metadata, acr_values=ACR_MFA)
    rp.start_at_rp(page, url)
    expect(page).to_have_url(re.compile(r"/mfa/challenge$"))
    expect(page.get_by_role("heading", name="Authenticator app")).to_be_visible()
    page.get_by_label("6-digit code").fill(totp.now())
    callback = rp.reach_app(page, redirect_uri, page.get_by_role("button", name="Verify").click)

    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    claims = rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]
