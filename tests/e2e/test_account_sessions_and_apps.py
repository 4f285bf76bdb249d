"""The sessions and connected apps pages in a real browser against the live server.

Two browser contexts are two devices: one ends the other's session from the sessions page, and the
other finds itself signed out on its next page. A relying party (Authlib's client on the back channel)
is connected through the browser, shows up under connected apps, and once revoked there its refresh
token is refused at the token endpoint and reads inactive at introspection.
"""

from __future__ import annotations

import re

import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from playwright.sync_api import Page, expect

from app.core.scopes import describe_scope
from tests.e2e import rp
from tests.e2e.server import LiveServer
from tests.e2e.ui import LOGIN_URL, expect_signed_out, flash, sign_in

pytestmark = pytest.mark.e2e

CONSENT_HEADING = re.compile(r"^Allow .+ to use your account\?$")


def test_end_another_browsers_session_and_that_browser_is_signed_out(new_context, live_server: LiveServer) -> None:
    person = rp.create_person(live_server, "Ada Lovelace")
    laptop = new_context().new_page()
    phone = new_context().new_page()
    sign_in(laptop, person.email)
    sign_in(phone, person.email)

    laptop.goto("/account/sessions")
    expect(laptop.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    sessions = laptop.locator("li.session")
    expect(sessions).to_have_count(2)
    here = sessions.filter(has_text="this device")
    other = sessions.filter(has_not_text="this device")
    expect(here).to_have_count(1)
    expect(other).to_have_count(1)
    # Browser and system come from the user agent; both devices here are headless Chromium on Linux.
    expect(other.locator(".session-device")).to_have_text(re.compile(r"^\S*Chrome \d+ on Linux"))
    expect(other.locator(".session-ip")).to_have_text("127.0.0.1")

    other.get_by_role("link", name=re.compile(r"^End session of ")).click()
    # Asked first, on a page naming the device; Cancel goes back and changes nothing.
    expect(laptop.get_by_role("heading", name="End this session?")).to_be_visible()
    expect(laptop.locator("#confirm-what")).to_contain_text("on Linux from 127.0.0.1")
    laptop.get_by_role("link", name="Cancel").click()
    expect(sessions).to_have_count(2)
    other.get_by_role("link", name=re.compile(r"^End session of ")).click()
    laptop.get_by_role("button", name="End session").click()

    expect(laptop).to_have_url(re.compile(r"/account/sessions$"))
    expect(laptop.get_by_role("status").filter(has_text="That session has ended")).to_be_visible()
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("this device")

    # The phone still holds its cookie, but its next page load finds the session over.
    phone.goto("/account/")
    expect(phone).to_have_url(LOGIN_URL)
    expect(flash(phone, "session_ended")).to_be_visible()
    expect_signed_out(phone)

    laptop.goto("/account/")
    expect(laptop.get_by_role("heading", name="Your account")).to_be_visible()


def test_a_connected_app_is_listed_and_revoking_it_kills_its_refresh_token(page: Page, live_server: LiveServer) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(live_server, "E2E Photo Printer", redirect_uri=redirect_uri)
    resource = rp.register_client(live_server, "E2E Resource Server")
    person = rp.create_person(live_server, "Grace Hopper")
    metadata = rp.discover(live_server)

    app = rp.rp_session(client)
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = rp.sign_in_and_answer_consent(page, url, person, redirect_uri, decision="Allow")
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    resource_server = rp.rp_session(resource)
    assert rp.introspect(resource_server, metadata, tokens["refresh_token"], "refresh_token")["active"] is True

    page.goto("/account/apps")
    entry = page.locator("li.connected-app").filter(has_text="E2E Photo Printer")
    expect(entry).to_have_count(1)
    for scope in rp.SCOPE.split():
        expect(entry.locator(f'[data-scope="{scope}"]')).to_have_text(describe_scope(scope))
    expect(entry.locator(".app-tokens")).to_contain_text("1 active refresh token, last issued")

    entry.get_by_role("link", name="Revoke access for E2E Photo Printer").click()
    expect(page.get_by_role("heading", name="Revoke access for E2E Photo Printer?")).to_be_visible()
    page.get_by_role("button", name="Revoke access").click()

    expect(page.get_by_role("status").filter(has_text="E2E Photo Printer no longer has access")).to_be_visible()
    expect(page.locator("#no-apps")).to_be_visible()
    with pytest.raises(OAuthError) as refused:
        app.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert rp.introspect(resource_server, metadata, tokens["refresh_token"], "refresh_token") == {"active": False}
    assert rp.introspect(resource_server, metadata, tokens["access_token"], "access_token") == {"active": False}
    assert rp.userinfo_status(metadata, tokens["access_token"]) == 401

    # The consent is gone: the next authorization request asks the person again.
    url, _ = app.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(32)
    )
    rp.start_at_rp(page, url)
    expect(page.get_by_role("heading", name=CONSENT_HEADING)).to_be_visible()
