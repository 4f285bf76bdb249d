"""Registering APIs (resource servers) and which clients may ask tokens for them: the console and CLI share this."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from app.core import rbac
from app.core.audit import Origin, record_event
from app.core.keys import ALGORITHMS
from app.core.resources import MAX_IDENTIFIER_LENGTH, is_valid_identifier
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import ApiResource, CustomScope, OAuthClient, User

MIN_TOKEN_SECONDS = 60


class ApiError(rbac.RbacError):
    """A refused change to an API; ``field`` names the form field the message belongs to."""


@dataclass
class ApiSpec:
    identifier: str
    name: str
    scopes: dict[str, str] = field(default_factory=dict)  # name -> what the consent page says
    access_token_seconds: int | None = None
    signing_alg: str | None = None
    allow_introspection: bool = True


def list_apis() -> list[ApiResource]:
    return list(db.session.scalars(select(ApiResource).order_by(ApiResource.name)))


def find_api(identifier: str) -> ApiResource | None:
    return db.session.scalar(select(ApiResource).where(ApiResource.identifier == identifier))


def create_api(spec: ApiSpec, *, actor: User | None, origin: Origin) -> ApiResource:
    """A new API with its scopes, checked as a whole; the caller commits."""
    api = ApiResource(identifier=_checked_identifier(spec.identifier), allow_introspection=spec.allow_introspection)
    _apply_settings(api, spec)
    db.session.add(api)
    db.session.flush()
    for name, description in spec.scopes.items():
        scope = rbac.create_scope(name, description, actor=actor, origin=origin)
        scope.resource_id = api.id
    db.session.flush()
    record_event("admin.api_created", origin=origin, actor=actor, api=api.identifier, scopes=sorted(spec.scopes))
    return api


def update_api(api: ApiResource, spec: ApiSpec, *, actor: User | None, origin: Origin) -> None:
    """Name, lifetime, algorithm and introspection; the identifier stays (tokens in use carry it)."""
    _apply_settings(api, spec)
    api.allow_introspection = spec.allow_introspection
    record_event("admin.api_updated", origin=origin, actor=actor, api=api.identifier)


def delete_api(api: ApiResource, *, actor: User | None, origin: Origin) -> None:
    """The API and its scopes go; tokens already issued for it expire on their own (short-lived)."""
    record_event("admin.api_deleted", origin=origin, actor=actor, api=api.identifier)
    for scope in list(api.scopes):
        db.session.delete(scope)
    db.session.delete(api)


def set_client_apis(client: OAuthClient, apis: list[ApiResource], *, actor: User | None, origin: Origin) -> None:
    """Exactly these APIs for the client from now on (it keeps its scope list; an API's scopes need the API)."""
    for api in list_apis():
        allowed = any(a.id == api.id for a in apis)
        has = any(c.id == client.id for c in api.clients)
        if allowed and not has:
            api.clients.append(db.session.merge(client))
        elif has and not allowed:
            api.clients[:] = [c for c in api.clients if c.id != client.id]
    record_event(
        "admin.client_apis_changed", origin=origin, actor=actor, client_id=client.client_id, apis=[a.identifier for a in apis]
    )


def _checked_identifier(identifier: str) -> str:
    identifier = (identifier or "").strip()
    if not is_valid_identifier(identifier):
        raise ApiError(
            lazy_gettext(
                "The identifier must be an absolute URI without a fragment, at most %(count)d characters.",
                count=MAX_IDENTIFIER_LENGTH,
            ),
            "identifier",
        )
    if find_api(identifier) is not None:
        raise ApiError(lazy_gettext("Another API already uses this identifier."), "identifier")
    return identifier


def _apply_settings(api: ApiResource, spec: ApiSpec) -> None:
    name = " ".join((spec.name or "").split())
    if not name or len(name) > 100:
        raise ApiError(lazy_gettext("Give the API a name of at most 100 characters."), "name")
    longest = current_app.config["ACCESS_TOKEN_TTL"]  # signing keys are kept only that long after they retire
    seconds = spec.access_token_seconds
    if seconds is not None and not MIN_TOKEN_SECONDS <= seconds <= longest:
        raise ApiError(
            lazy_gettext("Token lifetime: from %(low)d to %(high)d seconds.", low=MIN_TOKEN_SECONDS, high=longest),
            "access_token_seconds",
        )
    if spec.signing_alg is not None and spec.signing_alg not in ALGORITHMS:
        raise ApiError(lazy_gettext("Choose one of the signing algorithms offered."), "signing_alg")
    api.name, api.access_token_seconds, api.signing_alg = name, seconds, spec.signing_alg


# --- one API's scopes and clients, a change at a time (the console's detail page) ---


def add_api_scope(api: ApiResource, name: str, description: str, *, actor: User | None, origin: Origin) -> CustomScope:
    """A new scope that belongs to this API; the naming rules (and uniqueness across all scopes) are rbac's."""
    scope = rbac.create_scope(name, description, actor=actor, origin=origin)
    scope.resource_id = api.id
    db.session.flush()
    record_event("admin.api_scope_added", origin=origin, actor=actor, api=api.identifier, scope=scope.name)
    return scope


def remove_api_scope(api: ApiResource, scope: CustomScope, *, actor: User | None, origin: Origin) -> None:
    """Clients keep the name in their lists, but no token for the API carries it any more."""
    record_event("admin.api_scope_removed", origin=origin, actor=actor, api=api.identifier, scope=scope.name)
    rbac.delete_scope(scope, actor=actor, origin=origin)


def clients_not_allowed(api: ApiResource) -> list[OAuthClient]:
    """The clients that may not ask tokens for this API yet: what the console offers to allow."""
    allowed = {client.id for client in api.clients}
    return [c for c in db.session.scalars(select(OAuthClient).order_by(OAuthClient.name)) if c.id not in allowed]


def apis_of(client: OAuthClient) -> list[ApiResource]:
    return [api for api in list_apis() if any(c.id == client.id for c in api.clients)]


def allow_client(api: ApiResource, client: OAuthClient, *, actor: User | None, origin: Origin) -> bool:
    """Add one API to the client's; False when it already had it (nothing recorded)."""
    current = apis_of(client)
    if any(a.id == api.id for a in current):
        return False
    set_client_apis(client, [*current, api], actor=actor, origin=origin)
    return True


def disallow_client(api: ApiResource, client: OAuthClient, *, actor: User | None, origin: Origin) -> bool:
    """Take one API from the client's; False when it did not have it (nothing recorded)."""
    current = apis_of(client)
    if not any(a.id == api.id for a in current):
        return False
    set_client_apis(client, [a for a in current if a.id != api.id], actor=actor, origin=origin)
    return True
