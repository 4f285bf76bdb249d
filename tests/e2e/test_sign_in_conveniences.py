"""Sign-in conveniences in a real browser: keep me signed in, the session limit, the new-sign-in email, trusted browsers.

These journeys run against their own instance of the IdP (the shared live server keeps the defaults), with
IDP_MAX_SESSIONS_PER_USER=2 and one trusted proxy, so that a browser context can say which network it comes
from (X-Forwarded-For). Time is moved by editing the session rows in the instance's database, never waited for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from app.models import User, UserSession
from tests.e2e import server as live
from tests.e2e.admin import add_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, LOGIN_URL, NEW_PASSWORD, PASSWORD, register, sign_in, sign_out, submit_sign_in
from tests.mailbox import Mailbox, SmtpServer, free_port

pytestmark = pytest.mark.e2e

SESSION_LIMIT = 2
CHALLENGE_URL = re.compile(r"/mfa/challenge$")


@pytest.fixture(scope="module")
def conveniences_server(smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = free_port()

    def make_env(database_url: str, instance_dir: Path) -> dict[str, str]:
        env = live.server_env(port, database_url, instance_dir, smtp_server.port)
        return {**env, "IDP_MAX_SESSIONS_PER_USER": str(SESSION_LIMIT), "IDP_TRUSTED_PROXIES": "1"}

    with live.running_instance(tmp_path_factory.mktemp("e2e-conveniences"), port, make_env) as server:
        yield server


@pytest.fixture
def browser_context_args(browser_context_args: dict, conveniences_server: LiveServer) -> dict:
    """Every context of these journeys opens on this module's own instance."""
    return {**browser_context_args, "base_url": conveniences_server.url}


def sessions_of(server: LiveServer, email: str) -> list[int]:
    with server.engine.connect() as connection:
        user_id = connection.scalar(select(User.id).where(User.email == email))
        return list(connection.scalars(select(UserSession.id).where(UserSession.user_id == user_id)))


def move_back(server: LiveServer, email: str, *, idle: timedelta, old: timedelta) -> None:
    """Make every session of the person look idle for `idle` and signed in `old` ago."""
    now = datetime.now(UTC)
    with server.engine.begin() as connection:
        user_id = connection.scalar(select(User.id).where(User.email == email))
        connection.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id)
            .values(last_seen_at=now - idle, created_at=now - old, auth_time=now - old)
        )


def sign_in_kept(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Keep me signed in").check()
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(ACCOUNT_URL)


def test_kept_signed_in_outlives_the_short_limits_and_ends_with_a_password_change(
    new_context, conveniences_server: LiveServer
) -> None:
    email = f"keep-{datetime.now().timestamp():.0f}-{free_port()}@example.com"
    kept = new_context()
    page = kept.new_page()
    register(page, email)
    sign_in_kept(page, email)
    [cookie] = [cookie for cookie in kept.cookies() if cookie["name"] == "idp_session"]
    assert cookie["expires"] > datetime.now().timestamp() + 29 * 86400  # persistent, not a browser-session cookie

    # Two hours idle and two days old: past the one-hour idle and one-day absolute limits of a short session.
    move_back(conveniences_server, email, idle=timedelta(hours=2), old=timedelta(days=2))
    page.goto("/account/sessions")
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.locator(".session").first).to_contain_text("kept signed in")
    expect(page.locator(".session-limits").first).to_contain_text("after 7 days idle")

    # The password changed in another browser ends the kept session too.
    other = new_context().new_page()
    sign_in(other, email)
    other.goto("/account/password")
    other.get_by_label("Current password").fill(PASSWORD)
    other.get_by_label("New password").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Change password").click()
    expect(other.get_by_role("status").first).to_be_visible()

    page.goto("/account/")
    expect(page).to_have_url(LOGIN_URL)


def test_a_third_browser_ends_the_oldest_session(new_context, conveniences_server: LiveServer) -> None:
    email = f"limit-{datetime.now().timestamp():.0f}-{free_port()}@example.com"
    pages = [new_context().new_page() for _ in range(3)]
    register(pages[0], email)
    sign_in(pages[0], email)
    move_back(conveniences_server, email, idle=timedelta(0), old=timedelta(minutes=5))  # the oldest
    sign_in(pages[1], email)

    sign_in(pages[2], email)

    told = pages[2].get_by_role("status").filter(has_text="You were signed out of your oldest session")
    expect(told).to_contain_text(f"at most {SESSION_LIMIT} devices at a time")
    assert len(sessions_of(conveniences_server, email)) == 3  # the ended one stays, revoked
    pages[0].goto("/account/")
    expect(pages[0]).to_have_url(LOGIN_URL)
    for page in pages[1:]:
        page.goto("/account/")
        expect(page).to_have_url(ACCOUNT_URL)


def test_a_new_browser_on_a_new_network_gets_the_new_sign_in_email(new_context, mailbox: Mailbox) -> None:
    email = f"device-{datetime.now().timestamp():.0f}-{free_port()}@example.com"
    home = new_context().new_page()  # from 127.0.0.1: no proxy header
    register(home, email)
    sign_in(home, email)  # the first sign-in: nothing to compare with, no mail
    travelling = new_context(extra_http_headers={"X-Forwarded-For": "198.51.100.23"}).new_page()

    sign_in(travelling, email)

    mail = mailbox.wait_for(email, "New sign-in to your account")
    assert "198.51.100.0/24" in mail.text
    assert "Chrome" in mail.text  # Playwright's headless Chromium says "HeadlessChrome"
    travelling.goto(mail.link("/account/sessions"))
    expect(travelling.get_by_role("heading", name="Sessions")).to_be_visible()
    assert [m.subject for m in mailbox.to(email)].count("New sign-in to your account") == 1


def test_a_trusted_browser_skips_the_challenge_but_not_step_up_until_forgotten(
    new_context, conveniences_server: LiveServer
) -> None:
    email = f"trust-{datetime.now().timestamp():.0f}-{free_port()}@example.com"
    page = new_context().new_page()
    register(page, email)
    totp = add_totp(conveniences_server, email)
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-totp")
    challenge.get_by_label("Trust this browser for 30 days").check()
    challenge.get_by_label("6-digit code").fill(totp.at(datetime.now(UTC) - timedelta(seconds=30)))
    challenge.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)
    sign_out(page)

    sign_in(page, email)  # the password alone: this browser is trusted

    # A sensitive change still wants the factor, and a step-up offers no trust to tick.
    page.goto("/account/password")
    expect(page).to_have_url(CHALLENGE_URL)
    expect(page.get_by_label("Trust this browser for 30 days")).to_have_count(0)
    page.get_by_label("6-digit code").fill(totp.now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()

    page.goto("/mfa/")
    expect(page.locator("#trusted-browsers")).to_contain_text("1 trusted browser")
    page.locator("#trusted-browsers").get_by_role("link", name="Forget all").click()
    page.get_by_role("button", name="Forget all trusted browsers").click()
    expect(page.get_by_role("status").filter(has_text="Every trusted browser was forgotten")).to_be_visible()
    sign_out(page)

    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
