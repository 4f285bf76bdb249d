"""The notice a person gets whenever their second factors change (SECURITY.md: ASVS 6.3.7)."""

from __future__ import annotations

from flask import current_app

from app.mail import render_mail, send_mail
from app.models import User

# What each change is called in the notice ("A security key was added to your account").
FACTOR_NAMES = {
    "totp": "An authenticator app",
    "recovery": "A new set of recovery codes",
    "webauthn": "A security key",
    "passkey": "A passkey",
    "sms": "A phone number for text-message codes",
}
ACTIONS = {"added": "added to", "removed": "removed from", "regenerated": "created for"}


def send_factor_notice(user: User, kind: str, action: str) -> None:
    """kind: a FACTOR_NAMES key; action: added, removed or regenerated."""
    what = f"{FACTOR_NAMES[kind]} was {ACTIONS[action]} your account"
    send_mail(
        render_mail(
            "factor_changed",
            to=user.email,
            subject=what,
            user=user,
            what=what,
            security_link=current_app.config["ISSUER"] + "/mfa/",
            reset_link=current_app.config["ISSUER"] + "/forgot-password",
        )
    )
