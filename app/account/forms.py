"""Flask-WTF forms for the account pages: profile, email change and password change."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from functools import lru_cache

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from app.core.text import lazy_gettext
from app.web.forms import PASSWORD_FIELD_MAX, email_field

NAME_MAX = 100
LOCALE_MAX = 35  # the column's size; real tags of this shape are far shorter

# BCP 47 language[-Script][-REGION], the shape OIDC Core 5.1 asks for in `locale`: en, en-GB, es-419, zh-Hant-TW.
_LOCALE = re.compile(r"^(?P<language>[A-Za-z]{2,3})(?:-(?P<script>[A-Za-z]{4}))?(?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?$")
# Invisible characters that reorder or break text: they make a name in an app or an email read differently
# from what was typed (bidi overrides are a known spoofing trick). Other format characters (ZWJ) stay,
# since scripts and emoji need them.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Entries of the tz database that are not places a person lives in.
_NOT_ZONES = {"Factory", "localtime", "posixrules"}

# Lazy: translated when shown, in the person's language (str() them for string operations).
NAME_INVALID = lazy_gettext("Use letters, spaces and punctuation only.")
LOCALE_INVALID = lazy_gettext("Use a language tag such as en, en-GB, pt-BR or zh-Hant-TW.")
LOCALE_HINT = lazy_gettext(
    "A language tag such as en, en-GB, pt-BR or zh-Hant-TW. Pages here are shown in English, German (Deutsch) "
    "or French (Français) when your language is one of those, and in English otherwise."
)
ZONE_INVALID = lazy_gettext("Choose a time zone from the list, such as Europe/Paris.")
SAME_EMAIL = lazy_gettext("That is already your email address.")
PASSWORD_CURRENT_MISSING = lazy_gettext("Enter your current password.")
PASSWORD_NEW_MISSING = lazy_gettext("Choose a new password.")


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """IANA zone names a person may choose, sorted for the page's list (reading the tz database once)."""
    return tuple(sorted(zoneinfo.available_timezones() - _NOT_ZONES))


def canonical_locale(tag: str) -> str | None:
    """The tag in its usual case (language lower, Script title, REGION upper), or None when malformed."""
    match = _LOCALE.match(tag)
    if match is None:
        return None
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts)


def _check_name(_form: FlaskForm, field: StringField) -> None:
    for ch in field.data or "":
        if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} or ch in _BIDI_CONTROLS:
            raise ValidationError(NAME_INVALID)


def _name_field(label: object, autocomplete: str) -> StringField:
    return StringField(
        label,
        filters=[_strip],
        validators=[Length(max=NAME_MAX, message=lazy_gettext("Use at most %(num)d characters.", num=NAME_MAX)), _check_name],
        render_kw={"autocomplete": autocomplete},
    )


class ProfileEditForm(FlaskForm):
    display_name = _name_field(lazy_gettext("Display name"), "nickname")
    given_name = _name_field(lazy_gettext("Given name"), "given-name")
    family_name = _name_field(lazy_gettext("Family name"), "family-name")
    locale = StringField(
        lazy_gettext("Language and region (optional)"),
        description=LOCALE_HINT,
        filters=[_strip],
        validators=[Length(max=LOCALE_MAX, message=LOCALE_INVALID)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "placeholder": "en-GB"},
    )
    zoneinfo = StringField(
        lazy_gettext("Time zone (optional)"),
        filters=[_strip],
        validators=[Length(max=64, message=ZONE_INVALID)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "placeholder": "Europe/Paris", "list": "zoneinfo-options"},
    )

    def validate_locale(self, field: StringField) -> None:
        if not field.data:
            return
        canonical = canonical_locale(field.data)
        if canonical is None:
            raise ValidationError(LOCALE_INVALID)
        field.data = canonical

    def validate_zoneinfo(self, field: StringField) -> None:
        if field.data and field.data not in time_zones():
            raise ValidationError(ZONE_INVALID)


class EmailChangeForm(FlaskForm):
    new_email = email_field(
        lazy_gettext("New email address"), required=lazy_gettext("Enter the new email address."), autocomplete="email"
    )

    def __init__(self, *args, current_email: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.current_email = current_email

    def validate_new_email(self, field: EmailField) -> None:
        if field.data and field.data.lower() == self.current_email.lower():
            raise ValidationError(SAME_EMAIL)


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        lazy_gettext("Current password"),
        validators=[DataRequired(PASSWORD_CURRENT_MISSING), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        lazy_gettext("New password"),
        validators=[DataRequired(PASSWORD_NEW_MISSING), Length(max=PASSWORD_FIELD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, *args, needs_current: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not needs_current:
            # Signed in with a passkey: the fresh second factor vouches for the person instead.
            del self.current_password


class ConfirmedForm(FlaskForm):
    """A destructive action's form: the CSRF token and `confirm`, which only its confirmation page sends.

    A bare POST (an old page, a stray script) is refused with 400 and changes nothing.
    """

    # No default: a default would stand in for a field missing from the POST.
    confirm = HiddenField(validators=[AnyOf(["1"], message=lazy_gettext("Confirm on the confirmation page."))])

    @classmethod
    def to_send(cls) -> ConfirmedForm:
        """The form a confirmation page renders: the confirmation filled in."""
        return cls(formdata=None, confirm="1")
