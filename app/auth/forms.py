"""Flask-WTF forms for the sign-up, sign-in and recovery pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

# Generous but bounded: a 64-character minimum maximum (NIST) and room for long passphrases.
PASSWORD_FIELD_MAX = 1024
EMAIL_MAX = 254


class _EmailMixin:
    email = EmailField(
        "Email address",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[DataRequired("Enter your email address."), Length(max=EMAIL_MAX), Email("Enter a valid email address.", check_deliverability=False)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )


class LoginForm(_EmailMixin, FlaskForm):
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class RegisterForm(_EmailMixin, FlaskForm):
    display_name = StringField("Your name (optional)", validators=[Length(max=100)], render_kw={"autocomplete": "name"})
    password = PasswordField(
        "Password",
        validators=[DataRequired("Choose a password."), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )

    def validate_display_name(self, field) -> None:
        if any(ord(ch) < 32 for ch in field.data or ""):
            raise ValidationError("Use letters, spaces and punctuation only.")


class ForgotPasswordForm(_EmailMixin, FlaskForm):
    pass


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a new password."), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )


class ConfirmForm(FlaskForm):
    """A bare POST with its CSRF token: sign-out, confirm email, resend link."""


class SocialStartForm(FlaskForm):
    """A provider's button on the sign-in page: a CSRF-protected POST, so no other site can start a journey."""

    next = HiddenField()
    reauth = HiddenField()  # "1" when the sign-in page asked for a fresh sign-in
