"""A person downloads their data, then deletes the account; afterwards it can't sign in any more."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from app.web.messages import message
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, expect_signed_out, new_email, register, sign_in, submit_sign_in
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e


def test_export_downloads_a_json_file_of_the_account(page: Page) -> None:
    email = new_email()
    register(page, email, display_name="Ada Lovelace")
    sign_in(page, email)

    page.goto("/account/export")
    expect(page.get_by_role("heading", name="Download your data")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download my data").click()
    download = download_info.value

    assert download.suggested_filename.startswith("account-export-") and download.suggested_filename.endswith(".json")
    with open(download.path(), encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["profile"]["email"] == email and data["profile"]["display_name"] == "Ada Lovelace"
    assert len(data["sessions"]) == 1 and data["sessions"][0]["user_agent"]
    assert {"auth.registered", "auth.login"} <= {event["type"] for event in data["security_events"]}
    assert "password" not in json.dumps(data["profile"])
    # The download did not navigate away: the page is still there, still signed in.
    expect(page.get_by_role("button", name="Download my data")).to_be_visible()


def test_delete_the_account_then_it_can_t_sign_in(page: Page, mailbox: Mailbox) -> None:
    email = new_email()
    register(page, email)
    sign_in(page, email)

    page.goto("/account/delete")
    expect(page.get_by_role("heading", name="Delete your account")).to_be_visible()
    # A near miss is refused, and the account stays.
    page.get_by_label("Type your email address to confirm").fill("not-" + email)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Type your email address exactly as shown to confirm.")).to_be_visible()
    page.get_by_label("Type your email address to confirm").fill(email.upper())
    page.get_by_role("button", name="Delete my account").click()

    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    reference = page.locator("#deletion-ref").inner_text()
    assert reference in mailbox.wait_for(email, "Your account was deleted").text

    page.goto("/account/")
    expect_signed_out(page)
    submit_sign_in(page, email, PASSWORD)
    expect(page.locator("#login-error")).to_have_text(message("login_failed"))
    expect(page).not_to_have_url(ACCOUNT_URL)
