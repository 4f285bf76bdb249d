"""A person's whole first journey: sign up, confirm the address, sign in and out, reset the password."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.web.messages import message
from tests.e2e.ui import (
    ACCOUNT_URL,
    LOGIN_URL,
    NEW_PASSWORD,
    PASSWORD,
    choose_new_password,
    expect_signed_out,
    flash,
    new_email,
    register,
    request_password_reset,
    sign_in,
    sign_out,
    submit_sign_in,
)
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e


def expect_link_used_up(page: Page, link: str, message_key: str) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", name="This link can't be used")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(message(message_key))


def test_register_confirm_sign_in_out_and_reset_password(page: Page, mailbox: Mailbox) -> None:
    email = new_email()
    register(page, email, PASSWORD, display_name="Ada Lovelace")

    # Confirm while signed out: the link opens a page with a button (no GET side effect).
    mail = mailbox.wait_for(email, "Confirm your email address")
    assert "Hello Ada Lovelace" in mail.text
    verify_link = mail.link("/verify-email/")
    page.goto(verify_link)
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page).to_have_url(LOGIN_URL)
    expect(flash(page, "verify_success")).to_be_visible()
    expect_signed_out(page)  # confirming never signs in
    expect_link_used_up(page, verify_link, "verify_invalid")

    sign_in(page, email)
    expect(page.locator("#account-email .badge")).to_have_text("confirmed")
    expect(page.locator("#unverified-banner")).to_have_count(0)
    expect(page.locator(".facts")).to_contain_text("Ada Lovelace")
    sign_out(page)
    sign_in(page, email)
    sign_out(page)

    request_password_reset(page, email)
    reset_link = mailbox.wait_for(email, "Choose a new password").link("/reset-password/")
    choose_new_password(page, reset_link, NEW_PASSWORD)
    assert "/forgot-password" in mailbox.wait_for(email, "Your password was changed").text
    expect_link_used_up(page, reset_link, "reset_invalid")

    # The old password is refused with the same words as any failure; the new one works.
    submit_sign_in(page, email, PASSWORD)
    expect(page.locator("#login-error")).to_have_text(message("login_failed"))
    expect(page).not_to_have_url(ACCOUNT_URL)
    expect(page.get_by_label("Email address")).to_have_value(email)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    sign_in(page, email, NEW_PASSWORD)
    expect(page.locator("#account-email .badge")).to_have_text("confirmed")


def test_unverified_banner_until_the_address_is_confirmed(page: Page, mailbox: Mailbox) -> None:
    email = new_email()
    register(page, email)
    sign_in(page, email)  # before confirming: allowed, with a banner
    banner = page.locator("#unverified-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"we sent a link to {email}")
    expect(banner.get_by_role("button", name="Send the link again")).to_be_visible()
    expect(page.locator("#account-email .badge")).to_have_text("not confirmed")
    page.reload()
    expect(banner).to_be_visible()

    # Confirming while signed in returns to the account, banner gone.
    page.goto(mailbox.wait_for(email, "Confirm your email address").link("/verify-email/"))
    expect(banner).to_be_visible()
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(flash(page, "verify_success")).to_be_visible()
    expect(banner).to_have_count(0)
    expect(page.locator("#account-email .badge")).to_have_text("confirmed")
