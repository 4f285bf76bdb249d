"""Recovery codes right after the first factor, and after the step-up that creating them asks for.

Setting up a person's first second factor leads straight to their new recovery codes, shown once, with
a text file to download and (by static/recovery-codes.js) Copy and Print. Pressing "Create recovery
codes" without a recent proof asks for the factor, then comes back and creates them.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.admin import add_totp
from tests.e2e.server import LiveServer
from tests.e2e.test_mfa_webauthn import watch_csp
from tests.e2e.ui import NEW_CODES_URL, leave_new_recovery_codes, new_email, register, set_up_authenticator_app, sign_in
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

SECURITY_URL = re.compile(r"/mfa/$")
CHALLENGE_URL = re.compile(r"/mfa/challenge$")
SHOWN = re.compile(r"^[a-z2-9]{4}(-[a-z2-9]{4}){3}$")


def test_the_first_factor_leads_to_its_recovery_codes_shown_once(page: Page, mailbox: Mailbox) -> None:
    refused = watch_csp(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    email = new_email()
    register(page, email)
    sign_in(page, email)

    set_up_authenticator_app(page)

    expect(page).to_have_url(NEW_CODES_URL)
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your authenticator app is set up")).to_be_visible()
    shown = page.get_by_role("list", name="Your new recovery codes").get_by_role("listitem")
    expect(shown).to_have_count(10)
    codes = [text.strip() for text in shown.all_inner_texts()]
    assert len(set(codes)) == 10 and all(SHOWN.match(code) for code in codes)
    mailbox.wait_for(email, "recovery codes")

    with page.expect_download() as started:
        page.get_by_role("link", name="Download as text file").click()
    with open(started.value.path(), encoding="utf-8") as handle:
        assert [line for line in handle.read().splitlines() if SHOWN.match(line)] == codes

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#recovery-codes-copied")).to_have_text("Copied. Paste them somewhere safe.")
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(codes) + "\n"
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.emulate_media(media="print")  # the printout: the codes without the page's controls
    expect(page.get_by_role("link", name="Download as text file")).to_be_hidden()
    expect(shown.first).to_be_visible()
    page.emulate_media(media="screen")

    # Shown once: coming back creates nothing and shows nothing.
    page.reload()
    expect(page).to_have_url(SECURITY_URL)
    expect(page.locator("#recovery-status")).to_have_text("10 unused recovery codes left.")
    for code in codes:
        expect(page.get_by_text(code)).to_have_count(0)
    assert refused == []


def test_without_javascript_the_codes_are_text_and_the_file_still_downloads(new_context, live_server: LiveServer) -> None:
    page = new_context(java_script_enabled=False).new_page()
    email = new_email()
    register(page, email)
    sign_in(page, email)

    set_up_authenticator_app(page)

    expect(page).to_have_url(NEW_CODES_URL)
    expect(page.get_by_role("list", name="Your new recovery codes").get_by_role("listitem")).to_have_count(10)
    expect(page.get_by_role("button", name="Copy")).to_have_count(0)  # no buttons that could do nothing
    expect(page.get_by_role("button", name="Print")).to_have_count(0)
    with page.expect_download():
        page.get_by_role("link", name="Download as text file").click()


def test_creating_codes_after_the_step_up_shows_them(page: Page, live_server: LiveServer) -> None:
    email = new_email()
    register(page, email)
    sign_in(page, email)  # the password alone: no factor yet
    totp = add_totp(live_server, email)  # set up elsewhere since: creating codes now needs it proven

    page.goto("/mfa/")
    page.locator("#factor-recovery").get_by_role("button", name="Create recovery codes").click()
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-totp")
    challenge.get_by_label("6-digit code").fill(totp.now())
    challenge.get_by_role("button", name="Verify").click()

    codes = leave_new_recovery_codes(page)  # back to what was asked for, and done
    assert len(set(codes)) == 10
    expect(page).to_have_url(SECURITY_URL)
    expect(page.locator("#recovery-status")).to_have_text("10 unused recovery codes left.")
