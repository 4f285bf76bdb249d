"""An authenticator app in the browser: scan-or-type setup, a first code, then sign-in asks for a code."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.ui import (
    ACCOUNT_URL,
    PASSWORD,
    leave_new_recovery_codes,
    new_email,
    register,
    set_up_authenticator_app,
    sign_in,
    sign_out,
    submit_sign_in,
)
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

SECURITY_URL = re.compile(r"/mfa/$")
CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def test_set_up_an_authenticator_app_and_sign_in_with_its_codes(page: Page, mailbox: Mailbox) -> None:
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if _is_csp_violation(msg) else None)
    email = new_email()
    register(page, email)
    sign_in(page, email)

    page.goto("/mfa/")
    totp_section = page.locator("#factor-totp")
    totp_section.get_by_role("button", name="Set up an authenticator app").click()
    qr = totp_section.locator("#totp-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100  # drawn, not an empty box
    secret = totp_section.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    totp = pyotp.TOTP(secret)

    code_field = totp_section.get_by_label("6-digit code")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    code_field.fill(totp.now())
    totp_section.get_by_role("button", name="Confirm and turn on").click()
    expect(page.get_by_role("status").filter(has_text="Your authenticator app is set up")).to_be_visible()
    leave_new_recovery_codes(page)  # the first factor: its recovery codes come first
    expect(page).to_have_url(SECURITY_URL)
    expect(totp_section.get_by_role("button", name="Remove authenticator app")).to_be_visible()
    assert "authenticator app was added" in mailbox.wait_for(email, "authenticator app was added").subject

    sign_out(page)
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-totp")
    expect(challenge.get_by_role("heading", name="Authenticator app")).to_be_visible()
    # The current step's code was spent on the setup; the app's next code is inside the drift window.
    challenge.get_by_label("6-digit code").fill(totp.at(time.time() + 30))
    challenge.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    # Just signed in with a code, so the sensitive change needs no extra step.
    page.goto("/mfa/")
    page.locator("#factor-totp").get_by_role("button", name="Remove authenticator app").click()
    expect(page).to_have_url(SECURITY_URL)
    expect(page.get_by_role("status").filter(has_text="Your authenticator app was removed.")).to_be_visible()
    expect(page.locator("#factor-totp").get_by_role("button", name="Set up an authenticator app")).to_be_visible()
    mailbox.wait_for(email, "authenticator app was removed")
    assert blocked == []  # the QR code is inline SVG: nothing for the CSP to refuse


def test_a_wrong_code_keeps_the_challenge(page: Page) -> None:
    email = new_email()
    register(page, email)
    sign_in(page, email)
    totp = set_up_authenticator_app(page)
    leave_new_recovery_codes(page)
    expect(page).to_have_url(SECURITY_URL)
    sign_out(page)

    submit_sign_in(page, email, PASSWORD)
    now = time.time()
    valid = {totp.at(now + drift * 30) for drift in (-1, 0, 1, 2)}
    challenge = page.locator("#challenge-totp")
    challenge.get_by_label("6-digit code").fill(next(c for c in ("000000", "111111", "222222") if c not in valid))
    challenge.get_by_role("button", name="Verify").click()

    expect(page).to_have_url(re.compile(r"/mfa/challenge(/totp)?$"))  # the page re-rendered with the error
    expect(page.locator("#mfa-error")).to_contain_text("That code didn't work")
    page.goto("/account/")
    expect(page).not_to_have_url(ACCOUNT_URL)


def _is_csp_violation(msg: ConsoleMessage) -> bool:
    return msg.type == "error" and "Content Security Policy" in msg.text
