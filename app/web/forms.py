"""Form pieces every blueprint uses: the bare confirm form, the email field, the field size limits."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length

# Generous but bounded: a 64-character minimum maximum (NIST) and room for long passphrases.
PASSWORD_FIELD_MAX = 1024
EMAIL_MAX = 254


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class EmailMixin:
    """An email address field: trimmed, required, at most EMAIL_MAX, shaped like an address."""

    email = EmailField(
        "Email address",
        filters=[_stripped],
        validators=[
            DataRequired("Enter your email address."),
            Length(max=EMAIL_MAX),
            Email("Enter a valid email address.", check_deliverability=False),
        ],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )


class ConfirmForm(FlaskForm):
    """A bare POST with its CSRF token: sign-out, confirm email, resend link, every console action."""
