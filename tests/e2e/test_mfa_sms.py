"""Text-message codes in a real browser, with the development sender: the code is read from the server log,
where the person running the server locally reads it too."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, leave_new_recovery_codes, new_email, register, sign_in, sign_out, submit_sign_in

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def code_from_log(live_server: LiveServer, start: int, phone: str) -> str:
    """The newest code the log sender wrote for this number since `start` (the line shows only its last 4 digits)."""
    pattern = re.compile(rf"to •••• {phone[-4:]}, message ([0-9]{{6}}) is your")
    codes = pattern.findall(live_server.log_text(start))
    assert codes, f"no text to {phone} in the server log:\n{live_server.log_tail()}"
    return codes[-1]


def test_enrol_a_phone_then_sign_in_with_a_texted_code(page: Page, live_server: LiveServer) -> None:
    email = new_email()
    phone = f"+44 7700 9{secrets.randbelow(10**5):05d}"
    last4 = phone[-4:]
    register(page, email)
    sign_in(page, email)

    # Enrol: the number gets a code, and the code turns text messages on.
    page.goto("/mfa/")
    section = page.locator("#factor-sms")
    expect(section.get_by_role("heading", name="Text message")).to_be_visible()
    log_start = live_server.log_size()
    section.get_by_label("Mobile number").fill(phone)
    section.get_by_role("button", name="Text a code to this number").click()
    expect(page.get_by_role("status").filter(has_text=f"We texted a code to •••• {last4}")).to_be_visible()
    section.get_by_label("Code from the text message").fill(code_from_log(live_server, log_start, phone))
    section.get_by_role("button", name="Confirm and turn on").click()
    expect(page.get_by_role("status").filter(has_text="Your phone number is verified")).to_be_visible()
    leave_new_recovery_codes(page)  # the first factor: its recovery codes come first
    expect(section.locator("#sms-status")).to_contain_text(f"Sign-in codes can be texted to •••• {last4}")
    assert phone.replace(" ", "") not in live_server.log_text(log_start)  # the log shows only the last digits

    sign_out(page)

    # Sign in: password, then a texted code.
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-sms")
    expect(challenge.locator("#sms-number")).to_have_text(f"Text a code to •••• {last4}.")
    expect(challenge.get_by_label("Code from the text message")).to_have_count(0)
    log_start = live_server.log_size()
    challenge.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_role("status").filter(has_text=f"We texted a code to •••• {last4}")).to_be_visible()
    code = code_from_log(live_server, log_start, phone)

    # A wrong code first: the page says so and stays on the challenge.
    challenge.get_by_label("Code from the text message").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    challenge.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#mfa-error")).to_contain_text("That code didn't work")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    challenge.get_by_label("Code from the text message").fill(code)
    challenge.get_by_role("button", name="Verify", exact=True).click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.locator("#account-email")).to_contain_text(email)
