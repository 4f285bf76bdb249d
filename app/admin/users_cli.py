"""Operator commands: ``flask users create|disable|enable|unlock`` and ``flask demo``."""

from __future__ import annotations

import secrets
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from app.admin import users as admin_users
from app.core.accounts import PasswordRejected, check_new_password, find_user_by_email, normalize_email
from app.core.audit import CLI_ORIGIN, record_event
from app.extensions import db
from app.models import User
from app.models.base import utcnow
from app.security import hash_password

users_cli = AppGroup("users", help="Manage user accounts.")
DEMO_EMAIL = "admin@example.com"


def _new_password_or_exit(password: str, email: str) -> str:
    try:
        return check_new_password(password, email=email)
    except PasswordRejected as rejected:
        click.echo("Password refused: " + " ".join(rejected.problems), err=True)
        sys.exit(2)


@users_cli.command("create")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option("--password", help="Omit to be prompted (keeps it out of shell history).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--admin", is_flag=True, help="Give the account the admin role.")
def create_user(email: str, password: str | None, display_name: str, admin: bool) -> None:
    """Create a verified account."""
    email = normalize_email(email)
    if find_user_by_email(email) is not None:
        click.echo(f"An account for {email} already exists.", err=True)
        sys.exit(1)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    normalized = _new_password_or_exit(password, email)
    user = User(
        email=email,
        display_name=display_name,
        password_hash=hash_password(normalized),
        email_verified_at=utcnow(),
        is_admin=admin,
    )
    db.session.add(user)
    db.session.flush()
    record_event("admin.user_created", origin=CLI_ORIGIN, subject=user, admin=admin)
    db.session.commit()
    click.echo(f"Created {'admin ' if admin else ''}account {email} (id {user.id}).")


def _user_or_exit(email: str) -> User:
    user = find_user_by_email(email)
    if user is None:
        click.echo(f"No account uses {normalize_email(email)}.", err=True)
        sys.exit(1)
    return user


def _run_user_action(action, email: str, done: str) -> None:
    """Run a console action on the account as the operator (no actor), with the console's guard rails."""
    user = _user_or_exit(email)
    try:
        action(user, actor=None, origin=CLI_ORIGIN)
    except admin_users.ActionRefused as refused:
        db.session.rollback()
        click.echo(str(refused), err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"{done}: {user.email} (id {user.id}).")


@users_cli.command("disable")
@click.argument("email")
def disable_user(email: str) -> None:
    """Disable an account: it is signed out everywhere and its apps' tokens are revoked."""
    _run_user_action(admin_users.disable_user, email, "Disabled")


@users_cli.command("enable")
@click.argument("email")
def enable_user(email: str) -> None:
    """Let a disabled account sign in again."""
    _run_user_action(admin_users.enable_user, email, "Enabled")


@users_cli.command("unlock")
@click.argument("email")
def unlock_user(email: str) -> None:
    """Lift a lockout after failed sign-ins."""
    _run_user_action(admin_users.unlock_user, email, "Unlocked")


@click.command("demo")
def seed_demo() -> None:
    """Seed a demo admin for local use, with a fresh random password printed once."""
    password = secrets.token_urlsafe(18)
    user = find_user_by_email(DEMO_EMAIL)
    if user is None:
        user = User(email=DEMO_EMAIL, display_name="Demo Admin", is_admin=True, email_verified_at=utcnow())
        db.session.add(user)
    user.password_hash = hash_password(password)
    user.failed_login_count = 0
    user.locked_until = None
    db.session.flush()
    record_event("admin.demo_seeded", origin=CLI_ORIGIN, subject=user)
    db.session.commit()
    issuer = current_app.config["ISSUER"]
    click.echo(
        f"Demo admin ready. Sign in at {issuer}/login\n  email:    {DEMO_EMAIL}\n  password: {password}\n"
        "  First step: an administrator sets up a second factor (an authenticator app or a security key)\n"
        "  before any page opens; the sign-in leads there."
    )
