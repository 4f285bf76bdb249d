"""Form pieces every blueprint uses: the bare confirm form, the email field, the field size limits."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length

from app.core.text import lazy_gettext

# Generous but bounded: a 64-character minimum maximum (NIST) and room for long passphrases.
PASSWORD_FIELD_MAX = 1024
EMAIL_MAX = 254


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def without_spaces(value: str | None) -> str | None:
    """A filter for one-time codes: people copy them as "123 456", and the spaces carry nothing."""
    return value.replace(" ", "") if isinstance(value, str) else value


def email_field(
    label: str = lazy_gettext("Email address"),
    *,
    required: str = lazy_gettext("Enter your email address."),
    autocomplete: str = "username",
) -> EmailField:
    """An email address field: trimmed, required, at most EMAIL_MAX, shaped like an address (never looked up in DNS)."""
    return EmailField(
        label,
        filters=[_stripped],
        validators=[
            DataRequired(required),
            Length(max=EMAIL_MAX),
            Email(lazy_gettext("Enter a valid email address."), check_deliverability=False),
        ],
        render_kw={"autocomplete": autocomplete, "autocapitalize": "none", "spellcheck": "false"},
    )


class EmailMixin:
    """The sign-in address field of the sign-in, registration, reset and console forms."""

    email = email_field()


class ConfirmForm(FlaskForm):
    """A bare POST with its CSRF token: sign-out, confirm email, resend link, every console action."""
