"""Security keys and passkeys in Chromium, answered by the DevTools virtual authenticator.

A security key is added on the security page, then signing in asks for the password and the key;
a passkey is added the same way and then signs in from the sign-in page without a password.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import CDPSession, ConsoleMessage, Page, expect
from sqlalchemy import func, select

from app.models import User, UserSession
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, leave_new_recovery_codes, new_email, register, sign_in, sign_out, submit_sign_in
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

SECURITY_URL = re.compile(r"/mfa/$")
CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def virtual_authenticator(page: Page, *, passkey: bool) -> tuple[CDPSession, str]:
    """A USB security key, or a platform authenticator that keeps passkeys and verifies the person."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal" if passkey else "usb",
        "hasResidentKey": passkey,
        "hasUserVerification": passkey,
        "isUserVerified": passkey,
        "automaticPresenceSimulation": True,
    }
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


def stored_credentials(cdp: CDPSession, authenticator_id: str) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def latest_amr(live_server: LiveServer, email: str) -> list[str]:
    """The amr of the account's newest live session, read from the server's own database."""
    query = (
        select(UserSession.amr)
        .join(User, User.id == UserSession.user_id)
        .where(func.lower(User.email) == email.lower(), UserSession.revoked_at.is_(None), UserSession.pending.is_(None))
        .order_by(UserSession.created_at.desc())
        .limit(1)
    )
    with live_server.engine.connect() as connection:
        return connection.scalar(query)


def watch_csp(page: Page) -> list[str]:
    refused: list[str] = []

    def check(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", check)
    return refused


def add_key(page: Page, button: str, name: str) -> None:
    """Name the first key and press one of the add buttons on the security page; on past the new recovery codes."""
    page.goto("/mfa/")
    section = page.locator("#factor-webauthn")
    section.get_by_label("Name for a new key (optional)").fill(name)
    section.get_by_role("button", name=button).click()
    # Each test's first key: it leads through the new recovery codes, where the message shows.
    expect(page.get_by_role("status").filter(has_text=f"“{name}” was added")).to_be_visible()
    leave_new_recovery_codes(page)
    expect(page).to_have_url(SECURITY_URL)
    expect(section.locator(".credential-name", has_text=name)).to_be_visible()


def new_person_with_key(page: Page, button: str, name: str) -> tuple[CDPSession, str, str]:
    """A new person, signed in, who added one key with `button`: (DevTools session, authenticator id, email)."""
    cdp, authenticator_id = virtual_authenticator(page, passkey=button == "Add a passkey")
    email = new_email()
    register(page, email)
    sign_in(page, email)
    add_key(page, button, name)
    return cdp, authenticator_id, email


def test_a_security_key_is_the_second_factor_after_the_password(page: Page, live_server: LiveServer, mailbox: Mailbox) -> None:
    refused = watch_csp(page)
    cdp, authenticator_id, email = new_person_with_key(page, "Add a security key", "Blue key")
    section = page.locator("#factor-webauthn")
    expect(section.get_by_text("not used yet")).to_be_visible()
    expect(section.locator(".badge", has_text="security key")).to_be_visible()
    assert "A security key was added" in mailbox.wait_for(email, "security key was added").subject
    [credential] = stored_credentials(cdp, authenticator_id)
    assert not credential["isResidentCredential"]

    sign_out(page)
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-webauthn")
    expect(challenge.get_by_role("heading", name="Security keys and passkeys")).to_be_visible()
    challenge.get_by_role("button", name="Use your security key").click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert latest_amr(live_server, email) == ["pwd", "hwk", "mfa"]
    assert stored_credentials(cdp, authenticator_id)[0]["signCount"] >= 1

    # Just proven with the key, so removing it needs no extra step.
    page.goto("/mfa/")
    section.get_by_role("button", name="Remove Blue key").click()
    expect(page).to_have_url(SECURITY_URL)
    expect(page.get_by_role("status").filter(has_text="“Blue key” was removed")).to_be_visible()
    expect(section.locator("#webauthn-none")).to_be_visible()
    mailbox.wait_for(email, "security key was removed")
    assert refused == []


def test_a_cancelled_key_keeps_the_challenge_with_a_message(page: Page) -> None:
    cdp, authenticator_id = virtual_authenticator(page, passkey=False)
    email = new_email()
    register(page, email)
    sign_in(page, email)
    add_key(page, "Add a security key", "Spare key")
    sign_out(page)
    # The key is unplugged: the browser gives up and the page says so, without signing in.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator_id})
    virtual_authenticator(page, passkey=False)

    submit_sign_in(page, email, PASSWORD)
    page.get_by_role("button", name="Use your security key").click()

    expect(page.locator("#webauthn-challenge-error")).to_contain_text("cancelled or timed out")
    expect(page).to_have_url(CHALLENGE_URL)
    expect(page.get_by_role("button", name="Use your security key")).to_be_enabled()


def test_trusting_the_browser_at_the_key_challenge_skips_it_at_the_next_sign_in(page: Page, live_server: LiveServer) -> None:
    refused = watch_csp(page)
    _cdp, _authenticator_id, email = new_person_with_key(page, "Add a security key", "Desk key")
    sign_out(page)
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)

    challenge = page.locator("#challenge-webauthn")
    challenge.get_by_label("Trust this browser for 30 days").check()
    challenge.get_by_role("button", name="Use your security key").click()
    expect(page).to_have_url(ACCOUNT_URL)
    assert latest_amr(live_server, email) == ["pwd", "hwk", "mfa"]
    sign_out(page)

    sign_in(page, email)  # the password alone: this browser is trusted

    assert latest_amr(live_server, email) == ["pwd"]  # no factor was proven: step-up still asks for the key
    assert refused == []


def test_a_passkey_signs_in_from_the_sign_in_page_without_a_password(
    page: Page, live_server: LiveServer, mailbox: Mailbox
) -> None:
    refused = watch_csp(page)
    # The button, as in a browser that can't offer passkeys in the autofill (test_passkey_autofill.py has
    # that): a virtual authenticator would answer the sign-in page's autofill request before any click.
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = async () => false;")
    cdp, authenticator_id, email = new_person_with_key(page, "Add a passkey", "This laptop")
    expect(page.locator("#factor-webauthn .badge", has_text="passkey")).to_be_visible()
    mailbox.wait_for(email, "passkey was added")
    [credential] = stored_credentials(cdp, authenticator_id)
    assert credential["isResidentCredential"]

    sign_out(page)
    page.goto("/login?next=/mfa/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(SECURITY_URL)  # where the sign-in page was asked to lead
    expect(page.get_by_role("banner").get_by_role("link", name=email)).to_be_visible()
    assert latest_amr(live_server, email) == ["hwk", "user", "mfa"]
    assert refused == []
