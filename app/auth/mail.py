"""The emails the auth pages send, each built from a .txt/.html template pair."""

from __future__ import annotations

from flask import current_app

from app.mail import render_mail, send_mail
from app.models import User


def absolute_url(path: str) -> str:
    # Links use the configured issuer, never the request's Host header (host-header poisoning).
    return current_app.config["ISSUER"] + path


def send_verification(user: User, token: str) -> None:
    link = absolute_url(f"/verify-email/{token}")
    send_mail(render_mail("verify_email", to=user.email, subject="Confirm your email address", user=user, link=link))


def send_account_exists(user: User) -> None:
    send_mail(
        render_mail(
            "account_exists",
            to=user.email,
            subject="Someone tried to register with your address",
            user=user,
            login_link=absolute_url("/login"),
            reset_link=absolute_url("/forgot-password"),
        )
    )


def send_password_reset(user: User, token: str) -> None:
    link = absolute_url(f"/reset-password/{token}")
    send_mail(render_mail("reset_password", to=user.email, subject="Choose a new password", user=user, link=link))


def send_invitation(user: User, token: str) -> None:
    """An operator created the account: the reset link is how the person chooses a first password."""
    link = absolute_url(f"/reset-password/{token}")
    send_mail(render_mail("invitation", to=user.email, subject="Your new account", user=user, link=link))


def send_password_changed(user: User, *, this_device_kept: bool = False) -> None:
    """`this_device_kept`: changed from the account page, where the device that changed it stays signed in."""
    send_mail(
        render_mail(
            "password_changed",
            to=user.email,
            subject="Your password was changed",
            user=user,
            this_device_kept=this_device_kept,
            reset_link=absolute_url("/forgot-password"),
        )
    )


def send_sign_in_method_notice(user: User, provider_name: str, action: str) -> None:
    """A notice for a linked or unlinked provider account: a new way into the account must not go unnoticed."""
    what = f"A {provider_name} account was {action} {'to' if action == 'linked' else 'from'} your account"
    send_mail(
        render_mail(
            "sign_in_method_changed",
            to=user.email,
            subject=what,
            user=user,
            what=what,
            linked_link=absolute_url("/account/linked"),
            reset_link=absolute_url("/forgot-password"),
        )
    )
