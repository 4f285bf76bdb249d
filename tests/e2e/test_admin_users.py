"""The users console in Chromium: disabling a signed-in person, an invitation, and a person's roles and linked accounts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert, select

from app.models import LinkedIdentity, User
from app.models.base import utcnow
from tests.e2e.admin import add_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import (
    ACCOUNT_URL,
    LOGIN_URL,
    NEW_PASSWORD,
    PASSWORD,
    choose_new_password,
    expect_signed_out,
    new_email,
    sign_in,
    submit_sign_in,
)

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def create_account(server: LiveServer, email: str, *, admin: bool = False) -> None:
    server.flask("users", "create", "--email", email, "--password", PASSWORD, *(["--admin"] if admin else []))


def test_an_admin_disables_a_signed_in_person_who_is_then_signed_out(new_context, live_server: LiveServer) -> None:
    admin_email, person_email = new_email(), new_email()
    create_account(live_server, admin_email, admin=True)
    create_account(live_server, person_email)
    totp = add_totp(live_server, admin_email)

    person = new_context().new_page()
    sign_in(person, person_email)

    admin = new_context().new_page()
    submit_sign_in(admin, admin_email, PASSWORD)
    expect(admin).to_have_url(CHALLENGE_URL)
    admin.locator("#challenge-totp").get_by_label("6-digit code").fill(totp.now())
    admin.locator("#challenge-totp").get_by_role("button", name="Verify").click()
    expect(admin).to_have_url(ACCOUNT_URL)

    admin.goto("/admin/users/")
    admin.get_by_label("Email or name").fill(person_email.upper())
    admin.get_by_role("button", name="Search").click()
    expect(admin.locator("#user-count")).to_have_text("1 account")
    admin.get_by_role("link", name=person_email).click()
    expect(admin.locator("#user-email")).to_contain_text(person_email)
    expect(admin.locator("#sessions li")).to_have_count(1)
    expect(admin.locator("#sessions")).to_contain_text("Chrome")

    admin.get_by_role("link", name="Disable the account…").click()
    expect(admin.locator("#confirm-email")).to_have_text(person_email)
    admin.get_by_role("button", name="Disable the account").click()
    expect(admin.get_by_role("status").filter(has_text="The account is disabled")).to_be_visible()
    expect(admin.locator("#disabled-badge")).to_be_visible()
    expect(admin.locator("#sessions")).to_contain_text("None.")

    person.reload()
    expect(person).to_have_url(LOGIN_URL)
    expect_signed_out(person)
    submit_sign_in(person, person_email, PASSWORD)  # and the password no longer lets them in
    expect(person).to_have_url(LOGIN_URL)
    expect(person.get_by_role("alert")).to_be_visible()


def test_an_admin_invites_a_person_who_chooses_a_password_and_signs_in(new_context, live_server: LiveServer, mailbox) -> None:
    admin_email, invited_email = new_email(), new_email()
    create_account(live_server, admin_email, admin=True)
    totp = add_totp(live_server, admin_email)
    admin = new_context().new_page()
    submit_sign_in(admin, admin_email, PASSWORD)
    admin.locator("#challenge-totp").get_by_label("6-digit code").fill(totp.now())
    admin.locator("#challenge-totp").get_by_role("button", name="Verify").click()
    expect(admin).to_have_url(ACCOUNT_URL)

    admin.goto("/admin/users/new")
    admin.get_by_label("Email address").fill(invited_email)
    admin.get_by_label("Name (optional)").fill("Invited Person")
    admin.get_by_role("button", name="Send the invitation").click()
    expect(admin.get_by_role("status").filter(has_text=f"{invited_email} was invited")).to_be_visible()
    expect(admin.locator("#user-email")).to_contain_text(invited_email)

    invited = new_context().new_page()
    link = mailbox.wait_for(invited_email, "Your new account").link("/reset-password/")
    choose_new_password(invited, link, NEW_PASSWORD)
    sign_in(invited, invited_email, NEW_PASSWORD)


def test_an_admin_gives_and_removes_a_role_and_unlinks_an_account_on_the_person_s_page(
    new_context, live_server: LiveServer
) -> None:
    admin_email, person_email = new_email(), new_email()
    create_account(live_server, admin_email, admin=True)
    create_account(live_server, person_email)
    totp = add_totp(live_server, admin_email)
    role = f"staff-{person_email[4:14]}"
    live_server.flask("roles", "create", role, "--description", "Staff of the e2e run")
    with live_server.engine.begin() as connection:
        person_id = connection.scalar(select(User.id).where(User.email == person_email))
        connection.execute(
            insert(LinkedIdentity).values(
                user_id=person_id,
                provider="github",
                subject=f"gh-{person_id}",
                email=person_email,
                username="lost-octocat",
                linked_at=utcnow(),
            )
        )
    admin = new_context().new_page()
    submit_sign_in(admin, admin_email, PASSWORD)
    admin.locator("#challenge-totp").get_by_label("6-digit code").fill(totp.now())
    admin.locator("#challenge-totp").get_by_role("button", name="Verify").click()
    expect(admin).to_have_url(ACCOUNT_URL)

    admin.goto(f"/admin/users/{person_id}")
    admin.get_by_label("Give a role").select_option(label=role)
    admin.get_by_role("button", name="Give role").click()
    expect(admin.get_by_role("status").filter(has_text=f"now has the role “{role}”")).to_be_visible()
    expect(admin.locator("#effective-roles")).to_contain_text(role)

    admin.get_by_role("link", name=f"Remove the role {role}").click()
    expect(admin.locator("main")).to_contain_text(f"Take the role “{role}” from {person_email}?")
    admin.get_by_role("button", name="Remove role").click()
    expect(admin.get_by_role("status").filter(has_text="no longer has the role")).to_be_visible()
    expect(admin.locator("#effective-roles")).not_to_contain_text(role)

    admin.get_by_role("link", name="Unlink the github account lost-octocat").click()
    expect(admin.locator("main")).to_contain_text(f"Unlink the GitHub account lost-octocat from {person_email}?")
    admin.get_by_role("button", name="Unlink account").click()
    expect(admin.get_by_role("status").filter(has_text="is unlinked")).to_be_visible()
    expect(admin.locator("#sign-in-methods")).not_to_contain_text("lost-octocat")
