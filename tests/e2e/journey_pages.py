"""Every page of the journeys, reached the way a person reaches it, for checks that look at each one.

Three kinds of visitor see the pages: someone signed out (sign-in, sign-up, reset, errors), someone
setting up a second factor and then asked for it, and an administrator with an authenticator app,
signed in (account, security, consent, device, console). Each ``*_pages`` function is a walk that
yields a page's name once that page is showing, so a check can run on it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
from authlib.common.security import generate_token
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from app.models import Group, Role
from app.models.base import utcnow
from tests.e2e import rp
from tests.e2e.admin import make_admin_with_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, new_email, register, sign_in, sign_out, submit_sign_in
from tests.mailbox import Mailbox

CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def signed_out_pages(page: Page, mailbox: Mailbox) -> Iterator[str]:
    """Sign-in (fresh and after an error), sign-up, forgot and reset password, check-email, 404 and 400."""
    for name, path in [("sign-in", "/login"), ("sign-up", "/register"), ("forgot-password", "/forgot-password")]:
        page.goto(path)
        yield name
    submit_sign_in(page, new_email(), "not the right password at all")
    expect(page.locator("#login-error")).to_be_visible()
    yield "sign-in-error"
    email = new_email()
    register(page, email)
    yield "check-email"
    page.goto("/forgot-password")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    page.goto(mailbox.wait_for(email, "Choose a new password").link("/reset-password/"))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    yield "reset-password"
    page.goto("/no-such-page")
    yield "error-404"
    page.goto("/oauth/authorize?response_type=code")
    yield "error-400"


def second_factor_pages(page: Page, server: LiveServer) -> Iterator[str]:
    """Setting up a phone, then an authenticator app (the QR code, then the first recovery codes); then someone
    else's challenge."""
    email = new_email()
    register(page, email)
    sign_in(page, email)
    yield from sms_setup_page(page)
    page.locator("#factor-totp").get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#totp-qr")).to_be_visible()
    yield "security-totp-setup"  # with the phone still half-way too: one autofocus all the same
    totp_section = page.locator("#factor-totp")
    totp_section.get_by_label("6-digit code").fill(
        pyotp.TOTP(totp_section.locator("#totp-secret").inner_text().replace(" ", "")).now()
    )
    totp_section.get_by_role("button", name="Confirm and turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    yield "first-recovery-codes"  # the first factor's codes, on their own page
    sign_out(page)
    email = new_email()
    register(page, email)
    make_admin_with_totp(server, email)
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    yield "mfa-challenge"


def sign_in_admin(page: Page, server: LiveServer) -> tuple[str, pyotp.TOTP]:
    """A new administrator with an authenticator app, signed in past the challenge."""
    email = new_email()
    register(page, email)
    totp = make_admin_with_totp(server, email)
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    page.locator("#challenge-totp").get_by_label("6-digit code").fill(totp.now())
    page.locator("#challenge-totp").get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)
    return email, totp


ACCOUNT_PAGES = [
    ("account-overview", "/account/"),
    ("account-profile", "/account/profile"),
    ("account-password", "/account/password"),
    ("account-sessions", "/account/sessions"),
    ("account-end-other-sessions", "/account/sessions/end-others"),
    ("account-apps", "/account/apps"),
    ("account-history", "/account/history"),
    ("account-export", "/account/export"),
    ("account-delete", "/account/delete"),
    ("account-linked", "/account/linked"),
    ("security", "/mfa/"),
]
CONSOLE_PAGES = [
    ("console-dashboard", "/admin/"),
    ("console-users", "/admin/users"),
    ("console-new-user", "/admin/users/new"),
    ("console-clients", "/admin/clients"),
    ("console-new-client", "/admin/clients/new"),
    ("console-apis", "/admin/apis"),
    ("console-roles", "/admin/roles"),
    ("console-audit", "/admin/audit"),
    ("console-sessions", "/admin/sessions"),
    ("console-keys", "/admin/keys"),
    ("console-rotate-keys", "/admin/keys/rotate"),
]

# One item of each console list, reached by its first link: (page name, list, link selector).
CONSOLE_ITEMS = [
    ("console-user", "/admin/users", "a[href*='/admin/users/']:not([href$='/new']):not([href$='/users/'])"),
    ("console-client", "/admin/clients", "a[href*='/admin/clients/']:not([href$='/new'])"),
    ("console-api", "/admin/apis", "a[href*='/admin/apis/']"),
    ("console-role", "/admin/roles", "a[href*='/admin/roles/']"),
    ("console-group", "/admin/roles", "a[href*='/admin/groups/']"),
]


def seed_console(server: LiveServer) -> None:
    """A role, a group, a client and an API, so their own pages and the lists have rows."""
    suffix = generate_token(6).lower()
    with server.engine.begin() as connection:
        connection.execute(insert(Role).values(name=f"a11y:{suffix}", description="Reads the books", created_at=utcnow()))
        connection.execute(insert(Group).values(name=f"a11y-{suffix}", description="Auditors", created_at=utcnow()))
    rp.register_client(server, "Accessibility Check App", redirect_uri=rp.loopback_redirect_uri())
    api = ["apis", "create", f"https://a11y-{suffix}.example/", "--name", "Books API"]
    server.flask(*api, "--scope", f"books-{suffix}:read=Read the books")


def open_first(page: Page, list_path: str, selector: str) -> None:
    """Follow the first link into one item of a console list (a user, a client, a role, a group)."""
    page.goto(list_path)
    page.locator(f"main {selector}").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def admin_pages(page: Page, server: LiveServer) -> Iterator[str]:
    """Account, security (with the factor sections, then the new recovery codes), console, consent, device."""
    email, totp = sign_in_admin(page, server)
    seed_console(server)
    for name, path in ACCOUNT_PAGES + CONSOLE_PAGES:
        response = page.goto(path)
        if response is not None and response.status == 404:
            continue  # an optional page this server does not offer (linked accounts without social sign-in)
        yield name
    for name, list_path, selector in CONSOLE_ITEMS:
        open_first(page, list_path, selector)
        yield name
    page.goto("/admin/clients/new")
    page.get_by_role("button", name="Create client").click()
    expect(page.locator("#client-errors")).to_be_visible()
    yield "console-new-client-refused"
    page.goto("/admin/apis")
    page.get_by_role("button", name="Register API").click()
    expect(page.locator("#api-create-errors")).to_be_visible()
    yield "console-new-api-refused"
    page.goto("/mfa/")
    page.locator("#factor-recovery").get_by_role("button", name="Create recovery codes").click()
    expect(page.get_by_role("list", name="Your new recovery codes")).to_be_visible()
    yield "recovery-codes"
    yield from end_session_confirm_page(page, server, email, totp)
    yield from consent_and_device_pages(page, server)


def sms_setup_page(page: Page) -> Iterator[str]:
    """The security page half-way through setting up a phone: a code was texted."""
    page.goto("/mfa/")
    sms = page.locator("#factor-sms")
    sms.get_by_label("Mobile number").fill("+44 7700 900123")
    sms.get_by_role("button", name="Text a code to this number").click()
    expect(sms.get_by_label("Code from the text message")).to_be_visible()
    yield "security-sms-setup"


def consent_and_device_pages(page: Page, server: LiveServer) -> Iterator[str]:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(server, "Accessibility Check RP", redirect_uri=redirect_uri)
    metadata = rp.discover(server)
    url, _ = rp.rp_session(client).create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(32)
    )
    rp.start_at_rp(page, url)
    expect(page.get_by_role("heading", name=re.compile(r"^Allow .+ to use your account\?$"))).to_be_visible()
    yield "consent"
    rp.reach_app(page, redirect_uri, page.locator("#approve").click)
    page.goto("/account/apps")
    page.locator("main a[href$='/revoke']").first.click()
    expect(page.locator("main form[action$='/revoke']")).to_be_visible()
    yield "account-revoke-app-confirm"
    page.goto("/device")
    yield "device-verification"


def end_session_confirm_page(page: Page, server: LiveServer, email: str, totp: pyotp.TOTP) -> Iterator[str]:
    """The confirmation before ending one session: the same administrator signed in from a second browser."""
    other = page.context.browser.new_context(base_url=server.url).new_page()
    submit_sign_in(other, email, PASSWORD)
    # The next step's code: the one the first sign-in used is spent (no replay within its window).
    other.locator("#challenge-totp").get_by_label("6-digit code").fill(totp.at(time.time() + totp.interval))
    other.locator("#challenge-totp").get_by_role("button", name="Verify").click()
    expect(other).to_have_url(ACCOUNT_URL)
    other.context.close()
    page.goto("/account/sessions")
    page.locator("main a[href$='/end']").first.click()
    expect(page.locator("main form[action$='/end']")).to_be_visible()
    yield "account-end-session-confirm"
