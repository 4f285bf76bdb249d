"""Flask-WTF forms for the sign-up, sign-in and recovery pages."""

from __future__ import annotations

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from app.core.text import lazy_gettext
from app.web.forms import PASSWORD_FIELD_MAX, EmailMixin


class LoginForm(EmailMixin, FlaskForm):
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[DataRequired(lazy_gettext("Enter your password.")), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    # Unticked by default: a longer session is the person's choice, on a browser they own (README "Sessions").
    keep_signed_in = BooleanField(lazy_gettext("Keep me signed in"))
    next = HiddenField()


class RegisterForm(EmailMixin, FlaskForm):
    display_name = StringField(
        lazy_gettext("Your name (optional)"), validators=[Length(max=100)], render_kw={"autocomplete": "name"}
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[DataRequired(lazy_gettext("Choose a password.")), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )

    def validate_display_name(self, field) -> None:
        if any(ord(ch) < 32 for ch in field.data or ""):
            raise ValidationError(gettext("Use letters, spaces and punctuation only."))


class ForgotPasswordForm(EmailMixin, FlaskForm):
    pass


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        lazy_gettext("New password"),
        validators=[DataRequired(lazy_gettext("Choose a new password.")), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )


class SocialStartForm(FlaskForm):
    """A provider's button on the sign-in page: a CSRF-protected POST, so no other site can start a journey."""

    next = HiddenField()
    reauth = HiddenField()  # "1" when the sign-in page asked for a fresh sign-in
