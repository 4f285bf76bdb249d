"""Every email about a person's account, each built from a .txt/.html template pair in templates/email/.

Links are the configured issuer plus the page's url_for path, never the request's Host header
(host-header poisoning). A notice goes out after the change it reports is committed.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template, url_for

from app.core.email_tokens import EMAIL_CHANGE_TTL
from app.core.live_sessions import Device
from app.core.mail import Mail, send_mail
from app.models import User

# What each factor change is called in the notice ("A security key was added to your account").
FACTOR_NAMES = {
    "totp": "An authenticator app",
    "recovery": "A new set of recovery codes",
    "webauthn": "A security key",
    "passkey": "A passkey",
    "sms": "A phone number for text-message codes",
}
FACTOR_ACTIONS = {"added": "added to", "removed": "removed from", "regenerated": "created for"}


def external_url(endpoint: str, **values: object) -> str:
    """The page's address as a person's mail client must open it: the issuer, then the route's path."""
    return current_app.config["ISSUER"] + url_for(endpoint, **values)


def render_mail(template: str, *, to: str, subject: str, **context: object) -> Mail:
    """Render templates/email/<template>.txt and .html into one message."""
    context.setdefault("service_name", current_app.config["SERVICE_NAME"])
    return Mail(
        to=to,
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )


def _send(template: str, *, to: str, subject: str, **context: object) -> None:
    send_mail(render_mail(template, to=to, subject=subject, **context))


def _send_change_notice(template: str, user: User, what: str, **links: str) -> None:
    """A way into the account changed: say what, where to look, and how to take the account back."""
    _send(template, to=user.email, subject=what, user=user, what=what, reset_link=external_url("auth.forgot_password"), **links)


def send_verification(user: User, token: str) -> None:
    link = external_url("auth.verify_email_page", token=token)
    _send("verify_email", to=user.email, subject="Confirm your email address", user=user, link=link)


def send_account_exists(user: User) -> None:
    _send(
        "account_exists",
        to=user.email,
        subject="Someone tried to register with your address",
        user=user,
        login_link=external_url("auth.login"),
        reset_link=external_url("auth.forgot_password"),
    )


def send_password_reset(user: User, token: str) -> None:
    link = external_url("auth.reset_password", token=token)
    _send("reset_password", to=user.email, subject="Choose a new password", user=user, link=link)


def send_invitation(user: User, token: str) -> None:
    """An operator created the account: the reset link is how the person chooses a first password."""
    link = external_url("auth.reset_password", token=token)
    _send("invitation", to=user.email, subject="Your new account", user=user, link=link)


def send_password_changed(user: User, *, this_device_kept: bool = False) -> None:
    """`this_device_kept`: changed from the account page, where the device that changed it stays signed in."""
    _send(
        "password_changed",
        to=user.email,
        subject="Your password was changed",
        user=user,
        this_device_kept=this_device_kept,
        reset_link=external_url("auth.forgot_password"),
    )


def send_sign_in_method_notice(user: User, provider_name: str, action: str) -> None:
    """A notice for a linked or unlinked provider account: a new way into the account must not go unnoticed."""
    what = f"A {provider_name} account was {action} {'to' if action == 'linked' else 'from'} your account"
    _send_change_notice("sign_in_method_changed", user, what, linked_link=external_url("account.linked"))


def send_factor_notice(user: User, kind: str, action: str) -> None:
    """A second factor changed (docs/security.md: ASVS 6.3.7). kind: a FACTOR_NAMES key; action: added, removed, regenerated."""
    what = f"{FACTOR_NAMES[kind]} was {FACTOR_ACTIONS[action]} your account"
    _send_change_notice("factor_changed", user, what, security_link=external_url("mfa.security"))


def send_new_sign_in(user: User, when: datetime, device: Device, network: str) -> None:
    """A sign-in from a browser and a network this person never used (app/core/devices.py decides)."""
    _send(
        "new_sign_in",
        to=user.email,
        subject="New sign-in to your account",
        user=user,
        when=when.strftime("%Y-%m-%d %H:%M UTC"),
        device=f"{device.browser} on {device.system}",
        network=network,
        sessions_link=external_url("account.sessions"),
        reset_link=external_url("auth.forgot_password"),
    )


def mask_email(email: str) -> str:
    """j…@example.com: enough for the owner to recognise an address, little for whoever else reads the old mailbox."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def send_email_change_link(user: User, new_email: str, token: str) -> None:
    link = external_url("account.confirm_email_change_page", token=token)
    minutes = int(EMAIL_CHANGE_TTL.total_seconds() // 60)
    send_mail(
        render_mail(
            "email_change_verify", to=new_email, subject="Confirm your new email address", user=user, link=link, minutes=minutes
        )
    )


def send_email_change_notice(user: User, old_email: str, new_email: str, *, done: bool) -> None:
    """Tell the old address: a change was asked for (done=False), or it has happened (done=True)."""
    subject = "Your email address was changed" if done else "A change of your email address was requested"
    send_mail(
        render_mail(
            "email_changed_notice",
            to=old_email,
            subject=subject,
            user=user,
            new_email=mask_email(new_email),
            done=done,
            reset_link=external_url("auth.forgot_password"),
        )
    )


def send_account_deleted(address: str, display_name: str, account_ref: str) -> None:
    """A last notice to the address, after the commit: if the deletion was not theirs, they learn of it."""
    send_mail(
        render_mail(
            "account_deleted",
            to=address,
            subject="Your account was deleted",
            display_name=display_name,
            email=address,
            account_ref=account_ref,
        )
    )
