"""The register page says why a password is refused, next to the field, and creates nothing until it is fine."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.server import LiveServer
from tests.e2e.ui import PASSWORD, fill_registration, new_email, register
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

REFUSED = [
    ("too short", "short pass", "Use at least 15 characters (you have 10)."),
    ("on the common list", "qwertyuiop12345", "This password is on a list of commonly used passwords."),
    ("common word padded", "Password1234567!", "This is a common password (“password”) with digits or symbols added."),
]


def test_refused_passwords_are_explained_at_the_field_and_create_nothing(
    page: Page, mailbox: Mailbox, live_server: LiveServer
) -> None:
    email = new_email()
    password = page.get_by_label("Password", exact=True)

    for case, refused, reason in REFUSED:
        fill_registration(page, email, refused, display_name="Grace Hopper")
        expect(page.get_by_role("heading", name="Create an account"), case).to_be_visible()
        # The reason is tied to the field (aria-describedby) and shown right below it.
        expect(password, case).to_have_attribute("aria-invalid", "true")
        expect(password, case).to_have_accessible_description(re.compile("^" + re.escape(reason)))
        field = page.locator(".field.has-error")
        expect(field, case).to_have_count(1)
        expect(field.locator(".errors"), case).to_contain_text(reason)
        expect(field.get_by_label("Password", exact=True), case).to_be_visible()
        # What was typed is kept except the password.
        expect(page.get_by_label("Email address"), case).to_have_value(email)
        expect(page.get_by_label("Your name (optional)"), case).to_have_value("Grace Hopper")
        expect(password, case).to_have_value("")
        assert live_server.count_users(email) == 0, f"{case}: an account was created"

    register(page, email, PASSWORD, display_name="Grace Hopper")
    assert live_server.count_users(email) == 1
    # A fresh account gets a confirmation link, not the "someone tried to register" notice.
    assert mailbox.wait_for(email, "Confirm your email address")
