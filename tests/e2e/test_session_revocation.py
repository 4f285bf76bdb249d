"""A password reset ends the account's other sessions: another browser finds itself signed out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.ui import (
    LOGIN_URL,
    NEW_PASSWORD,
    choose_new_password,
    expect_signed_out,
    flash,
    new_email,
    register,
    request_password_reset,
    sign_in,
)
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e


def has_session_cookie(context) -> bool:
    return any(cookie["name"] == "idp_session" for cookie in context.cookies())


def test_the_old_session_ended_after_the_reset(new_context, mailbox: Mailbox) -> None:
    email = new_email()
    context_a = new_context()
    page_a = context_a.new_page()
    register(page_a, email)
    sign_in(page_a, email)
    assert has_session_cookie(context_a)

    # Another browser (no cookies shared) resets the password through the emailed link.
    page_b = new_context().new_page()
    request_password_reset(page_b, email)
    choose_new_password(page_b, mailbox.wait_for(email, "Choose a new password").link("/reset-password/"), NEW_PASSWORD)

    # Browser A still holds its cookie, but the server ended that session ...
    page_a.goto("/account/")
    expect(page_a).to_have_url(LOGIN_URL)
    expect(flash(page_a, "session_ended")).to_be_visible()
    expect_signed_out(page_a)
    expect(page_a.get_by_text(email)).to_have_count(0)
    # ... and told the browser to drop the dead cookie.
    assert not has_session_cookie(context_a)

    # A signs in again, with the new password.
    sign_in(page_a, email, NEW_PASSWORD)
    expect(flash(page_a, "session_ended")).to_have_count(0)
