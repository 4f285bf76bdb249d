"""Social sign-in in Chromium: through a second instance of this IdP, the fake GitHub and Discord, linking and unlinking,
and an address that already has an account, which is linked only after signing in to it (password, then TOTP)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from app.web.social import MESSAGES
from tests.e2e.admin import add_totp
from tests.e2e.server import LiveServer
from tests.e2e.social import UPSTREAM_NAME, SocialUpstreams
from tests.e2e.ui import ACCOUNT_URL, LOGIN_URL, PASSWORD, new_email, sign_in, sign_out
from tests.upstreams import GitHubEmail

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")
LINKED_URL = re.compile(r"/account/linked$")


def press_provider(page: Page, name: str) -> None:
    if not LOGIN_URL.search(page.url):
        page.goto("/login")
    page.get_by_role("button", name=f"Sign in with {name}").click()


def authorize_at_fake(page: Page, *, cancel: bool = False) -> None:
    """The fake GitHub's or Discord's own page: "Authorize <app> to use your account …"."""
    expect(page.get_by_role("heading", name=re.compile(r"^Authorize E2E IdP"))).to_be_visible()
    page.get_by_role("button", name="Cancel" if cancel else "Authorize").click()


def expect_signed_in_as(page: Page, email: str) -> None:
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.locator("#account-email")).to_contain_text(email)


@pytest.mark.parametrize("button", [UPSTREAM_NAME, "Google"])
def test_sign_in_through_the_second_idp_instance(page: Page, social_upstreams: SocialUpstreams, button: str) -> None:
    """As a generic OpenID provider, and behind Google's built-in profile (its discovery URL pointed there)."""
    upstream = social_upstreams.upstream
    person = upstream.create_person(email=new_email(), name="Grace Hopper")

    press_provider(page, button)
    # The upstream's own pages, on its own host: sign in there, then allow this IdP.
    expect(page).to_have_url(re.compile(rf"^{re.escape(upstream.url)}/login"))
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(upstream.url)}/oauth/authorize"))
    page.get_by_role("button", name="Allow").click()

    expect_signed_in_as(page, person.email)
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Linked accounts").click()
    linked = page.locator(".linked-account")
    expect(linked).to_have_count(1)
    expect(linked.locator(".link-provider")).to_have_text(button)
    expect(linked.locator(".link-email")).to_have_text(person.email)
    expect(linked.get_by_role("button", name=re.compile("^Unlink"))).to_have_count(0)  # the only way in


def test_github_sign_in_then_link_discord_and_unlink_github(page: Page, social_upstreams: SocialUpstreams) -> None:
    fake = social_upstreams.fake
    email = new_email()
    github = fake.add_account("github", login=f"octo-{email[4:14]}", emails=[GitHubEmail(email, primary=True)])
    fake.sign_in_as("github", github)

    press_provider(page, "GitHub")
    authorize_at_fake(page)
    expect_signed_in_as(page, email)

    page.goto("/account/linked")
    discord = fake.add_account("discord", username=f"dc_{email[4:14]}", email=new_email())
    fake.sign_in_as("discord", discord)
    page.get_by_role("button", name="Link Discord").click()
    authorize_at_fake(page)
    expect(page).to_have_url(LINKED_URL)
    expect(page.get_by_role("status").filter(has_text="is linked")).to_be_visible()
    expect(page.locator(".linked-account")).to_have_count(2)

    page.get_by_role("button", name=f"Unlink GitHub account {github.login}").click()
    expect(page.get_by_role("status").filter(has_text="is unlinked")).to_be_visible()
    remaining = page.locator(".linked-account")
    expect(remaining).to_have_count(1)
    expect(remaining.locator(".link-username")).to_have_text(discord.username)
    expect(remaining.locator(".last-way-in")).to_be_visible()  # Discord is now the only way in: no Unlink

    sign_out(page)
    press_provider(page, "Discord")
    authorize_at_fake(page)
    expect_signed_in_as(page, email)


def test_cancelling_at_github_comes_back_to_the_sign_in_page(page: Page, social_upstreams: SocialUpstreams) -> None:
    fake = social_upstreams.fake
    fake.sign_in_as("github", fake.add_account("github"))
    press_provider(page, "GitHub")
    authorize_at_fake(page, cancel=True)
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("status").filter(has_text=MESSAGES["denied"].format(provider="GitHub"))).to_be_visible()


def test_an_address_with_an_account_is_linked_after_password_and_totp(
    page: Page, live_server: LiveServer, social_upstreams: SocialUpstreams
) -> None:
    email = new_email()
    live_server.flask("users", "create", "--email", email, "--password", PASSWORD, "--name", "Ada")
    totp = add_totp(live_server, email)
    fake = social_upstreams.fake
    github = fake.add_account("github", emails=[GitHubEmail(email, primary=True)])
    fake.sign_in_as("github", github)

    press_provider(page, "GitHub")
    authorize_at_fake(page)
    # Never linked automatically: sign in to the account first (the address is filled in).
    expect(page).to_have_url(LOGIN_URL)
    collision = MESSAGES["collision"].format(provider="GitHub", email=email)
    expect(page.get_by_role("status").filter(has_text=collision)).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(CHALLENGE_URL)
    page.get_by_label("6-digit code").fill(totp.now())
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Link your GitHub account?")).to_be_visible()
    expect(page.locator("#link-upstream-account")).to_have_text(github.login)
    page.get_by_role("button", name="Link account").click()
    expect(page).to_have_url(LINKED_URL)
    expect(page.locator(".linked-account .link-username")).to_have_text(github.login)

    # GitHub now signs Ada in, and her authenticator app is still asked for.
    sign_out(page)
    press_provider(page, "GitHub")
    authorize_at_fake(page)
    expect(page).to_have_url(CHALLENGE_URL)
    page.get_by_label("6-digit code").fill(totp.at(time.time() + totp.interval))  # this step's code is spent
    page.get_by_role("button", name="Verify").click()
    expect_signed_in_as(page, email)


def test_an_account_made_at_a_github_sign_in_sets_a_password_and_uses_it(page: Page, social_upstreams: SocialUpstreams) -> None:
    fake = social_upstreams.fake
    email = new_email()
    fake.sign_in_as("github", fake.add_account("github", emails=[GitHubEmail(email, primary=True)]))
    press_provider(page, "GitHub")
    authorize_at_fake(page)
    expect_signed_in_as(page, email)

    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", name="Set a password")).to_be_visible()
    expect(page.get_by_label("Current password")).to_have_count(0)  # there is none; the GitHub sign-in is fresh
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status").filter(has_text="Your password is changed")).to_be_visible()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()

    sign_out(page)
    sign_in(page, email, PASSWORD)
