"""Forms for the console's client pages. They parse and bound the input; the registration rules
(redirect URIs, grant and auth-method combinations, links) are app/core/clients.py's validate_spec."""

from __future__ import annotations

import json

from flask_babel import gettext, ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.admin.clients import refusal_text
from app.core.clients import APPLICATION_TYPES, ClientSpec, ClientSpecError, check_backchannel_logout_uri
from app.core.protocol import AUTH_METHODS, GRANT_TYPES
from app.core.scopes import scope_token_pattern
from app.core.text import lazy_gettext
from app.models import OAuthClient
from app.web.json_input import loads_guarded

MAX_URIS = 10
_SCOPE_TOKEN = scope_token_pattern(100)
GRANT_LABELS = {
    "authorization_code": lazy_gettext("Authorization code (people sign in)"),
    "refresh_token": lazy_gettext("Refresh token (stay connected)"),
    "client_credentials": lazy_gettext("Client credentials (the app acts for itself)"),
    "urn:ietf:params:oauth:grant-type:device_code": lazy_gettext("Device code (TVs and command-line tools)"),
}
AUTH_METHOD_LABELS = {
    "client_secret_basic": lazy_gettext("client_secret_basic (secret in the Authorization header)"),
    "client_secret_post": lazy_gettext("client_secret_post (secret in the request body)"),
    "private_key_jwt": lazy_gettext("private_key_jwt (assertion signed with the app's key)"),
    "none": lazy_gettext("none (public client, PKCE only)"),
}

# OIDC Dynamic Client Registration 2 / RFC 8252: what the type changes about redirect URIs.
APPLICATION_TYPE_LABELS = {
    "web": lazy_gettext("Web (runs on a server or in a browser)"),
    "native": lazy_gettext("Native (a desktop or mobile app)"),
}


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def lines(text: str | None) -> list[str]:
    """One URI per line, blanks dropped, duplicates removed in order."""
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


def _uri_lines(_form: FlaskForm, field: TextAreaField) -> None:
    if len(lines(field.data)) > MAX_URIS:
        raise ValidationError(ngettext("At most %(num)d URI.", "At most %(num)d URIs.", MAX_URIS))


def _scopes(_form: FlaskForm, field: StringField) -> None:
    if not all(_SCOPE_TOKEN.match(token) for token in (field.data or "").split()):
        raise ValidationError(gettext('Scopes are separated by spaces and use printable characters other than " and \\.'))


def _jwks(form: FlaskForm, field: TextAreaField) -> None:
    if not field.data:
        return
    try:
        form.parsed_jwks = loads_guarded(field.data)  # depth-checked: deep nesting is a form error, not a 500
    except ValueError as exc:
        raise ValidationError(gettext("Paste the public keys as a JSON Web Key Set.")) from exc


def _backchannel_logout_uri(_form: FlaskForm, field: StringField) -> None:
    """The registration rule, run here so its refusal shows next to the field rather than above the form."""
    try:
        check_backchannel_logout_uri(field.data)
    except ClientSpecError as error:
        raise ValidationError(refusal_text(error)) from None


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _ClientSettingsForm(FlaskForm):
    """The fields a client's page can edit; creation adds the client type."""

    name = StringField(
        lazy_gettext("Name"), filters=[_strip], validators=[DataRequired(lazy_gettext("Give the app a name.")), Length(max=100)]
    )
    redirect_uris = TextAreaField(lazy_gettext("Redirect URIs (one per line)"), validators=[Length(max=6000), _uri_lines])
    post_logout_redirect_uris = TextAreaField(
        lazy_gettext("Post-logout redirect URIs (one per line)"), validators=[Length(max=6000), _uri_lines]
    )
    backchannel_logout_uri = StringField(
        lazy_gettext("Back-channel logout URI"),
        filters=[_strip],
        validators=[Optional(), Length(max=500), _backchannel_logout_uri],
    )
    backchannel_logout_session_required = BooleanField(lazy_gettext("The app needs the session ID (sid) in logout tokens"))
    grant_types = MultiCheckboxField(
        lazy_gettext("Grant types"),
        choices=[SelectChoice(g, GRANT_LABELS[g]) for g in GRANT_TYPES],
        validators=[DataRequired(lazy_gettext("Choose a grant type."))],
    )
    scope = StringField(lazy_gettext("Scopes (space-separated)"), filters=[_strip], validators=[Length(max=1000), _scopes])
    token_endpoint_auth_method = SelectField(
        lazy_gettext("Token endpoint authentication"), choices=[SelectChoice(m, AUTH_METHOD_LABELS[m]) for m in AUTH_METHODS]
    )
    jwks = TextAreaField(
        lazy_gettext("Public keys (JWK Set, for private_key_jwt only)"), filters=[_strip], validators=[Length(max=20000), _jwks]
    )
    application_type = SelectField(
        lazy_gettext("Application type"),
        choices=[SelectChoice(t, APPLICATION_TYPE_LABELS[t]) for t in APPLICATION_TYPES],
        default="web",
    )
    is_first_party = BooleanField(lazy_gettext("First-party (skips the consent page)"))
    roles_claim = BooleanField(lazy_gettext("Send roles and groups claims when the app asks for the roles scope"))
    require_par = BooleanField(lazy_gettext("Accept only pushed authorization requests (PAR)"))
    logo_uri = StringField(lazy_gettext("Logo URL"), filters=[_strip], validators=[Optional(), Length(max=500)])
    tos_uri = StringField(lazy_gettext("Terms of service URL"), filters=[_strip], validators=[Optional(), Length(max=500)])
    policy_uri = StringField(lazy_gettext("Privacy policy URL"), filters=[_strip], validators=[Optional(), Length(max=500)])

    parsed_jwks: dict | None = None

    def spec(self, *, is_confidential: bool) -> ClientSpec:
        """The submitted settings as the registration rules' input."""
        return ClientSpec(
            name=self.name.data,
            is_confidential=is_confidential,
            redirect_uris=lines(self.redirect_uris.data),
            post_logout_redirect_uris=lines(self.post_logout_redirect_uris.data),
            backchannel_logout_uri=self.backchannel_logout_uri.data or None,
            backchannel_logout_session_required=self.backchannel_logout_session_required.data,
            grant_types=list(self.grant_types.data),
            scope=" ".join(dict.fromkeys((self.scope.data or "").split())),
            token_endpoint_auth_method=self.token_endpoint_auth_method.data,
            is_first_party=self.is_first_party.data,
            logo_uri=self.logo_uri.data or None,
            tos_uri=self.tos_uri.data or None,
            policy_uri=self.policy_uri.data or None,
            is_native=self.application_type.data == "native",
            jwks=self.parsed_jwks,
        )


class ClientCreateForm(_ClientSettingsForm):
    client_type = RadioField(
        lazy_gettext("Client type"),
        choices=[
            SelectChoice("confidential", lazy_gettext("Confidential (a server that keeps a secret)")),
            SelectChoice("public", lazy_gettext("Public (browser or native app)")),
        ],
        default="confidential",
    )

    @property
    def is_confidential(self) -> bool:
        return self.client_type.data == "confidential"


class ClientEditForm(_ClientSettingsForm):
    pass


def settings_of(client: OAuthClient) -> dict:
    """A client's current settings as the edit form's initial data."""
    return {
        "name": client.name,
        "redirect_uris": "\n".join(client.redirect_uris),
        "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri or "",
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "jwks": json.dumps(client.jwks, indent=2) if client.jwks else "",
        "application_type": client.application_type,
        "is_first_party": client.is_first_party,
        "roles_claim": client.roles_claim,
        "require_par": client.require_pushed_authorization_requests,
        "logo_uri": client.logo_uri or "",
        "tos_uri": client.tos_uri or "",
        "policy_uri": client.policy_uri or "",
    }
