"""Profile, email change and password change in a real browser; the password change signs the other browser out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.account.forms import LOCALE_INVALID
from app.account.password_views import CHANGED
from app.account.profile_views import EMAIL_CHANGED, LINK_INVALID, LINK_SENT, SAVED
from tests.e2e.ui import ACCOUNT_URL, LOGIN_URL, NEW_PASSWORD, PASSWORD, expect_signed_out, flash, new_email, register, sign_in
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

PROFILE_URL = re.compile(r"/account/profile$")


def status(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def test_edit_the_profile_then_change_the_email_through_the_link(page: Page, mailbox: Mailbox) -> None:
    email, new_address = new_email(), new_email()
    register(page, email, display_name="Ada")
    sign_in(page, email)
    page.goto("/account/profile")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(page.get_by_label("Display name")).to_have_value("Ada")

    # A malformed language tag is explained at its field and nothing is saved.
    page.get_by_label("Given name").fill("Ada")
    page.get_by_label("Language and region (optional)").fill("english")
    page.get_by_role("button", name="Save profile").click()
    locale = page.get_by_label("Language and region (optional)")
    expect(locale).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field.has-error .errors")).to_have_text(str(LOCALE_INVALID))

    locale.fill("en-gb")
    page.get_by_label("Family name").fill("Lovelace")
    page.get_by_label("Time zone (optional)").fill("Europe/London")
    page.get_by_role("button", name="Save profile").click()
    expect(page).to_have_url(PROFILE_URL)
    expect(status(page, str(SAVED))).to_be_visible()
    page.reload()
    expect(page.get_by_label("Given name")).to_have_value("Ada")
    expect(page.get_by_label("Family name")).to_have_value("Lovelace")
    expect(page.get_by_label("Language and region (optional)")).to_have_value("en-GB")
    expect(page.get_by_label("Time zone (optional)")).to_have_value("Europe/London")

    # The change waits for the link sent to the new address; the old one hears about it.
    page.get_by_label("New email address").fill(new_address)
    page.get_by_role("button", name="Change email address").click()
    expect(status(page, LINK_SENT % {"email": new_address})).to_be_visible()
    expect(page.locator("#profile-email")).to_have_text(email)
    assert mailbox.wait_for(email, "change of your email address was requested")
    link = mailbox.wait_for(new_address, "Confirm your new email address").link("/account/email/confirm/")

    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your new email address")).to_be_visible()
    expect(page.locator("#new-email")).to_have_text(new_address)
    page.get_by_role("button", name="Use this email address").click()
    expect(page).to_have_url(PROFILE_URL)
    expect(status(page, EMAIL_CHANGED % {"email": new_address})).to_be_visible()
    expect(page.locator("#profile-email")).to_have_text(new_address)
    expect(page.get_by_role("banner").get_by_role("link", name=new_address)).to_be_visible()
    expect(page.locator("#unverified-banner")).to_have_count(0)  # the link proved the new mailbox
    assert mailbox.wait_for(email, "Your email address was changed")

    # The link is spent.
    page.goto(link)
    expect(page.get_by_role("heading", name="This link can't be used")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(str(LINK_INVALID))


def test_changing_the_password_signs_the_other_browser_out(new_context, mailbox: Mailbox) -> None:
    email = new_email()
    page_a = new_context().new_page()
    register(page_a, email)
    sign_in(page_a, email)
    page_b = new_context().new_page()
    sign_in(page_b, email)

    page_a.goto("/account/password")
    expect(page_a.get_by_role("heading", name="Change your password")).to_be_visible()
    page_a.get_by_label("Current password").fill(PASSWORD)
    page_a.get_by_label("New password").fill(NEW_PASSWORD)
    page_a.get_by_role("button", name="Change password").click()
    expect(status(page_a, str(CHANGED))).to_be_visible()
    assert mailbox.wait_for(email, "Your password was changed")

    # Browser B's next page load finds its session ended.
    page_b.goto("/account/")
    expect(page_b).to_have_url(LOGIN_URL)
    expect(flash(page_b, "session_ended")).to_be_visible()
    expect_signed_out(page_b)

    # Browser A stays signed in; B signs in again with the new password.
    page_a.goto("/account/")
    expect(page_a).to_have_url(ACCOUNT_URL)
    expect(page_a.locator("#account-email")).to_contain_text(email)
    sign_in(page_b, email, NEW_PASSWORD)
