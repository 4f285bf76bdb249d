"""Resource indicators (RFC 8707): which API a token is for, checked the same way at every endpoint.

An API (``ApiResource``) is named by its identifier, an absolute URI that becomes the ``aud`` of its
access tokens. A client may ask only for the APIs an operator allowed it, and a token for an API carries
only that API's scopes, so a token stolen from one API is no good at another.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from sqlalchemy import select

from app.core.jwts import default_audience
from app.extensions import db
from app.models import ApiResource, CustomScope, OAuthClient, client_resources

MAX_RESOURCES = 10  # per authorization request: more is a mistake or an attack, not an app
MAX_IDENTIFIER_LENGTH = 500


class InvalidTargetError(OAuth2Error):
    """RFC 8707 2: the resource is unknown, malformed, or not one this client may ask for."""

    error = "invalid_target"
    status_code = 400


def is_valid_identifier(value: str) -> bool:
    """An absolute URI without a fragment (RFC 8707 2); printable ASCII, no spaces."""
    if not value or len(value) > MAX_IDENTIFIER_LENGTH or not value.isascii() or not value.isprintable() or " " in value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and "#" not in value


def resources_for(client: OAuthClient, identifiers: list[str], **answer_to) -> list[ApiResource]:
    """The APIs named, each known and allowed for the client, in the order asked; else InvalidTargetError.

    ``answer_to`` (redirect_uri, state) lets the authorization endpoint send the error back to the app.
    """
    if len(identifiers) > MAX_RESOURCES:
        raise InvalidTargetError(f"At most {MAX_RESOURCES} resources per request.", **answer_to)
    found: list[ApiResource] = []
    for identifier in dict.fromkeys(identifiers):  # the same resource twice is the same resource
        if not is_valid_identifier(identifier):
            raise InvalidTargetError("A resource must be an absolute URI without a fragment.", **answer_to)
        resource = db.session.scalar(select(ApiResource).where(ApiResource.identifier == identifier))
        if resource is None or not is_allowed(client, resource):
            # One message for both: a client cannot probe which APIs exist.
            raise InvalidTargetError("The resource is unknown or not allowed for this client.", **answer_to)
        found.append(resource)
    return found


def is_allowed(client: OAuthClient, resource: ApiResource) -> bool:
    allowed = select(client_resources.c.client_id).where(
        client_resources.c.client_id == client.id, client_resources.c.resource_id == resource.id
    )
    return db.session.scalar(allowed) is not None


def api_scope_owners(scope: str) -> dict[str, int]:
    """Of the scopes named, those that belong to an API, with that API's id."""
    names = scope.split()
    if not names:
        return {}
    rows = db.session.execute(
        select(CustomScope.name, CustomScope.resource_id).where(CustomScope.name.in_(names), CustomScope.resource_id.is_not(None))
    )
    return {name: resource_id for name, resource_id in rows}


def scope_for_request(scope: str, identifiers: list[str]) -> str:
    """With resource indicators, an API's scopes are granted only when that API was asked for too.

    The identifiers are already checked (``resources_for``); without any, every scope stays.
    """
    if not identifiers:
        return scope
    owners = api_scope_owners(scope)
    if not owners:
        return scope
    wanted = set(db.session.scalars(select(ApiResource.id).where(ApiResource.identifier.in_(identifiers))))
    return " ".join(name for name in scope.split() if name not in owners or owners[name] in wanted)


def scope_for_api(scope: str, resource: ApiResource) -> str:
    """What a token for this API may do: the granted scopes that are the API's own."""
    own = resource.scope_names()
    return " ".join(name for name in scope.split() if name in own)


def requested_resource(request) -> str | None:
    """The token endpoint narrows to one API per token (RFC 8707 2.2); none named is None."""
    values = request.payload.datalist.get("resource", [])
    if len(values) > 1:
        raise InvalidTargetError("Ask for one resource per token request.")
    return values[0] if values else None


def audience_for_grant(client: OAuthClient, requested: str | None, granted: list[str]) -> ApiResource | None:
    """The API a code or refresh token's new access token is for, within what was granted; None: no API.

    Without a resource in the token request: the only API granted, or the IdP itself when none was.
    """
    if requested is None:
        if len(granted) > 1:
            raise InvalidTargetError("Several resources were granted: name the one this token is for.")
        if not granted:
            return None
        requested = granted[0]
    if requested not in granted:
        raise InvalidTargetError("The resource was not granted.")
    return resources_for(client, [requested])[0]  # still allowed now: an operator may have taken it away


def consent_groups(scope: str, resources: list[ApiResource]) -> list[tuple[ApiResource, list[str]]]:
    """The consent page's API sections: each API asked for, with the granted scopes that are its own."""
    return [(resource, scope_for_api(scope, resource).split()) for resource in resources]


def scopes_outside_apis(scope: str) -> list[str]:
    """The scopes about the account itself (openid, profile, ...) and custom scopes of no API."""
    owners = api_scope_owners(scope)
    return [name for name in scope.split() if name not in owners]


def introspection_allowed(audience: object) -> bool:
    """False for a token of an API whose operator turned introspection off (its tokens are checked locally)."""
    if not isinstance(audience, str) or audience == default_audience():
        return True  # the IdP's own tokens: no lookup on the hot path
    allowed = db.session.scalar(select(ApiResource.allow_introspection).where(ApiResource.identifier == audience))
    return allowed is not False


def known_resources(identifiers: list[str]) -> list[ApiResource]:
    """The APIs of identifiers checked earlier (a pending device request), in order; one deleted since is left out."""
    if not identifiers:
        return []
    found = {
        api.identifier: api for api in db.session.scalars(select(ApiResource).where(ApiResource.identifier.in_(identifiers)))
    }
    return [found[identifier] for identifier in identifiers if identifier in found]
