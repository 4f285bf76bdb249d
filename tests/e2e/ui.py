"""Steps the journeys share, done the way a person does them: labels, roles and visible text."""

from __future__ import annotations

import re
import secrets

import pyotp
from playwright.sync_api import Page, expect

from app.web.messages import message

# Accepted by the policy: long, not on a list, no part of the e2e addresses or the service name.
PASSWORD = "violet tractor sunrise marble"
NEW_PASSWORD = "copper lantern quietly orbits"

ACCOUNT_URL = re.compile(r"/account/$")
LOGIN_URL = re.compile(r"/login(\?.*)?$")


def new_email() -> str:
    return f"e2e-{secrets.token_hex(5)}@example.com"


def fill_registration(page: Page, email: str, password: str, display_name: str = "") -> None:
    page.goto("/register")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name (optional)").fill(display_name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Create account").click()


def register(page: Page, email: str, password: str = PASSWORD, display_name: str = "") -> None:
    """Sign up and land on "Check your email"; registering never signs the browser in."""
    fill_registration(page, email, password, display_name)
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.locator("#check-email-text")).to_have_text(message("register_success"))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def submit_sign_in(page: Page, email: str, password: str) -> None:
    if not LOGIN_URL.search(page.url):
        page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in with the password and land on the account overview, the address in the top bar."""
    submit_sign_in(page, email, password)
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("#account-email")).to_contain_text(email)
    expect(page.get_by_role("banner").get_by_role("link", name=email)).to_be_visible()


def sign_out(page: Page) -> None:
    """The top bar's button; it lands on the sign-in page, signed out."""
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("status").filter(has_text=message("logout"))).to_be_visible()
    expect_signed_out(page)


def expect_signed_out(page: Page) -> None:
    """The sign-in page, as someone with no session sees it."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.locator("#account-email")).to_have_count(0)


NEW_CODES_URL = re.compile(r"/mfa/recovery/new$")


def set_up_authenticator_app(page: Page) -> pyotp.TOTP:
    """Set up an authenticator app on the security page and confirm it with its first code; the app's TOTP."""
    page.goto("/mfa/")
    section = page.locator("#factor-totp")
    section.get_by_role("button", name="Set up an authenticator app").click()
    totp = pyotp.TOTP(section.locator("#totp-secret").inner_text().replace(" ", ""))
    section.get_by_label("6-digit code").fill(totp.now())
    section.get_by_role("button", name="Confirm and turn on").click()
    return totp


def leave_new_recovery_codes(page: Page) -> list[str]:
    """The first factor leads to its recovery codes (shown once): read them, then go on with "I've saved them"."""
    expect(page).to_have_url(NEW_CODES_URL)
    shown = page.get_by_role("list", name="Your new recovery codes").get_by_role("listitem")
    expect(shown).to_have_count(10)
    codes = [text.strip() for text in shown.all_inner_texts()]
    page.get_by_role("link", name="I've saved them").click()
    return codes


def flash(page: Page, key: str):
    return page.get_by_role("status").filter(has_text=message(key))


def request_password_reset(page: Page, email: str) -> None:
    """From the sign-in page's "Forgot your password?" link to the neutral "Check your email" page."""
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.locator("#check-email-text")).to_have_text(message("reset_requested"))


def choose_new_password(page: Page, reset_link: str, password: str) -> None:
    """Open the emailed link and set the password; a reset never signs in, it lands on the sign-in page."""
    page.goto(reset_link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Set new password").click()
    expect(page).to_have_url(LOGIN_URL)
    expect(flash(page, "reset_success")).to_be_visible()
    expect_signed_out(page)
