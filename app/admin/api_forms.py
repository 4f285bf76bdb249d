"""Forms for the console's API pages. They parse and bound the input; the rules themselves are app/core/apis.py's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from app.core.apis import ApiSpec
from app.core.keys import ALGORITHMS
from app.core.rbac import DESCRIPTION_MAX, NAME_MAX
from app.core.resources import MAX_IDENTIFIER_LENGTH, is_valid_identifier
from app.core.text import lazy_gettext
from app.models import ApiResource, OAuthClient

NAME_LENGTH = 100  # the column's size
MAX_SCOPE_LINES = 50
SCOPES_MAX = MAX_SCOPE_LINES * (NAME_MAX + DESCRIPTION_MAX + 4)
IDENTIFIER_INVALID = lazy_gettext(
    "The identifier must be an absolute URI without a fragment, at most %(count)d characters.", count=MAX_IDENTIFIER_LENGTH
)
# Longer than any lifetime the domain accepts, short enough that int() never meets a huge number.
SECONDS_DIGITS = 9


def _at_most(count: int) -> Length:
    return Length(max=count, message=lazy_gettext("Use at most %(count)d characters.", count=count))


class ApiSettingsForm(FlaskForm):
    """What can change about an API after it is registered (its identifier cannot)."""

    name = StringField(lazy_gettext("Name"), validators=[DataRequired(lazy_gettext("Enter a name.")), _at_most(NAME_LENGTH)])
    access_token_seconds = StringField(
        lazy_gettext("Token lifetime in seconds (optional)"), validators=[_at_most(SECONDS_DIGITS)]
    )
    signing_alg = SelectField(
        lazy_gettext("Signing algorithm"),
        choices=[SelectChoice("", lazy_gettext("Default (the server's setting)")), *(SelectChoice(a, a) for a in ALGORITHMS)],
        validate_choice=False,  # checked below, with a message in the reader's language
    )
    allow_introspection = BooleanField(lazy_gettext("Allow introspection"), default=True)

    def validate_access_token_seconds(self, field: StringField) -> None:
        value = (field.data or "").strip()
        if value and not (value.isascii() and value.isdigit()):
            raise ValidationError(lazy_gettext("Enter a whole number of seconds, or leave it empty for the default."))

    def validate_signing_alg(self, field: SelectField) -> None:
        if (field.data or "") not in ("", *ALGORITHMS):
            raise ValidationError(lazy_gettext("Choose one of the signing algorithms offered."))

    def spec(self, identifier: str, scopes: dict[str, str] | None = None) -> ApiSpec:
        seconds = (self.access_token_seconds.data or "").strip()
        return ApiSpec(
            identifier=identifier,
            name=self.name.data,
            scopes=scopes or {},
            access_token_seconds=int(seconds) if seconds else None,
            signing_alg=self.signing_alg.data or None,  # "" (or left out): the server's setting
            allow_introspection=bool(self.allow_introspection.data),
        )


def settings_of(api: ApiResource) -> dict[str, object]:
    """The settings form's values for an API as it is."""
    seconds = api.access_token_seconds
    return {
        "name": api.name,
        "access_token_seconds": "" if seconds is None else str(seconds),
        "signing_alg": api.signing_alg or "",
        "allow_introspection": api.allow_introspection,
    }


class ApiCreateForm(ApiSettingsForm):
    """Register an API: its identifier, the settings, and its first scopes as lines of ``name = description``."""

    identifier = StringField(
        lazy_gettext("Identifier"),
        validators=[DataRequired(lazy_gettext("Enter the API's identifier.")), _at_most(MAX_IDENTIFIER_LENGTH)],
    )
    scopes = TextAreaField(lazy_gettext("Scopes (optional)"), validators=[_at_most(SCOPES_MAX)])

    def validate_identifier(self, field: StringField) -> None:
        # The domain checks it again (and its uniqueness); here so it is marked with the other fields at once.
        if not is_valid_identifier((field.data or "").strip()):
            raise ValidationError(IDENTIFIER_INVALID)

    def validate_scopes(self, field: TextAreaField) -> None:
        self.scope_map = parse_scopes(field.data or "")

    def api_spec(self) -> ApiSpec:
        return self.spec(self.identifier.data, getattr(self, "scope_map", {}))


def parse_scopes(text: str) -> dict[str, str]:
    """Lines of ``name = what the consent page says``; blank lines are skipped. The names' rules are rbac's."""
    scopes: dict[str, str] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_SCOPE_LINES:
        raise ValidationError(lazy_gettext("At most %(count)d scopes at once.", count=MAX_SCOPE_LINES))
    for number, line in enumerate(lines, start=1):
        name, _, description = (part.strip() for part in line.partition("="))
        if not name or not description:
            raise ValidationError(
                lazy_gettext("Line %(number)d: write the scope as name = what the consent page says.", number=number)
            )
        if name in scopes:
            raise ValidationError(lazy_gettext("Line %(number)d: “%(name)s” is listed twice.", number=number, name=name))
        scopes[name] = description
    return scopes


class ApiScopeForm(FlaskForm):
    """Add one scope to an API."""

    name = StringField(lazy_gettext("Scope name"), validators=[DataRequired(lazy_gettext("Enter a name.")), _at_most(NAME_MAX)])
    description = StringField(
        lazy_gettext("What the consent page says"),
        validators=[DataRequired(lazy_gettext("Describe what the scope lets an app do.")), _at_most(DESCRIPTION_MAX)],
    )


class AllowClientForm(FlaskForm):
    """Pick a client that may not ask tokens for the API yet."""

    client_id = SelectField(lazy_gettext("Client"), validate_choice=False)

    def __init__(self, *args: object, clients: list[OAuthClient] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.client_id.choices = [SelectChoice(client.client_id, client.name) for client in clients or []]

    def validate_client_id(self, field: SelectField) -> None:
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(lazy_gettext("Choose one of the clients offered."))
