"""Operator commands: ``flask users create`` and ``flask demo``."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, User
from app.security import verify_password

STRONG_PASSWORD = "lantern quietly orbits marmalade"


def run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def user_by_email(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def test_users_create_makes_a_verified_non_admin_account_with_that_password(app):
    result = run(app, "users", "create", "--email", "ops@example.com", "--password", STRONG_PASSWORD, "--name", "Ops")
    assert result.exit_code == 0, result.output
    assert "Created account ops@example.com" in result.output
    user = user_by_email("ops@example.com")
    assert user.email_verified_at is not None and user.is_admin is False and user.display_name == "Ops"
    assert verify_password(STRONG_PASSWORD, user.password_hash)[0]
    assert STRONG_PASSWORD not in result.output
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_user_id == user.id)).all()
    assert [(event.event_type, event.details) for event in events] == [("admin.user_created", {"admin": False})]


def test_users_create_with_admin_gives_the_admin_role(app):
    result = run(app, "users", "create", "--email", "root@example.com", "--password", STRONG_PASSWORD, "--admin")
    assert result.exit_code == 0, result.output
    assert "Created admin account" in result.output
    assert user_by_email("root@example.com").is_admin is True


def test_users_create_prompts_for_the_password_when_it_is_not_given(app):
    result = run(app, "users", "create", "--email", "ops@example.com", input=f"{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert verify_password(STRONG_PASSWORD, user_by_email("ops@example.com").password_hash)[0]


def test_users_create_refuses_an_address_that_exists_in_any_case(app, create_user):
    create_user(email="ops@example.com")
    result = run(app, "users", "create", "--email", "OPS@example.com", "--password", STRONG_PASSWORD)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert user_count() == 1


def test_users_create_refuses_a_policy_breaking_password_with_exit_code_2(app):
    result = run(app, "users", "create", "--email", "ops@example.com", "--password", "password1")
    assert result.exit_code == 2
    assert "Password refused" in result.output and "at least 15 characters" in result.output
    assert user_count() == 0


def test_users_create_refuses_a_password_made_of_the_email(app):
    result = run(app, "users", "create", "--email", "harriet.tubman@example.com", "--password", "tubman harriet railroad")
    assert result.exit_code == 2
    assert "your email address" in result.output
    assert user_count() == 0


def demo_password(output: str) -> str:
    match = re.search(r"password:\s+(\S+)", output)
    assert match, output
    return match.group(1)


def test_demo_creates_an_admin_whose_printed_password_leads_to_mfa_enrolment(app, auth):
    result = run(app, "demo")
    assert result.exit_code == 0, result.output
    assert "admin@example.com" in result.output
    user = user_by_email("admin@example.com")
    assert user.is_admin and user.email_verified_at is not None

    response = auth.login("admin@example.com", demo_password(result.output))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/mfa/")  # admins must set up a second factor first


def test_running_demo_again_keeps_one_account_and_retires_the_old_password(app, auth, test_client):
    first = demo_password(run(app, "demo").output)
    second_run = run(app, "demo")
    assert second_run.exit_code == 0, second_run.output
    second = demo_password(second_run.output)
    assert first != second
    assert user_count() == 1

    assert auth.login("admin@example.com", first).status_code == 401
    assert auth.login("admin@example.com", second).status_code == 303
