"""Client administration for the console: create, edit, rotate the secret, disable, delete.

Validation is app/core/clients.py's, the same rules dynamic registration and ``flask clients create``
apply. Services add, flush and audit with the admin as actor; the view commits and then drops the
client from the per-process cache, so a rotated secret or a disabled client stops working at once.
"""

from __future__ import annotations

import re

from flask_babel import gettext
from sqlalchemy import func, select

from app.admin.sorting import Sort, SortableColumns
from app.core.audit import Origin, record_event
from app.core.client_cache import client_cache
from app.core.clients import CLIENT_SECRET_PREFIX, ClientSpec, ClientSpecError, create_client, validate_spec
from app.core.response_encryption import FIELDS as ENCRYPTION_FIELDS
from app.core.response_encryption import asks_for_encryption
from app.core.revocation import delete_client_and_grants, revoke_client_tokens
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import OAuthClient, User
from app.models.oauth import MAX_CLIENT_ID_LENGTH
from app.security import new_token, token_digest

# The columns an edit may change, in the order the audit event lists them.
EDITABLE = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "grant_types",
    "scope",
    "token_endpoint_auth_method",
    "application_type",
    "is_first_party",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "jwks",
    "roles_claim",
    "require_pushed_authorization_requests",
)


# The registration rules' refusals (app/core/clients.py) stay English there: dynamic registration returns them as
# RFC 7591 error_description, read by developers. The console shows them in the operator's language.
_RULE_MESSAGES = {
    "redirect_uris must be absolute URIs without spaces.": lazy_gettext("redirect_uris must be absolute URIs without spaces."),
    "redirect_uris must not contain a fragment.": lazy_gettext("redirect_uris must not contain a fragment."),
    "redirect_uris must not contain user information.": lazy_gettext("redirect_uris must not contain user information."),
    "redirect_uris must use https (http only for loopback).": lazy_gettext(
        "redirect_uris must use https (http only for loopback)."
    ),
    "client_name is required (at most 100 characters).": lazy_gettext("client_name is required (at most 100 characters)."),
    "client_credentials needs a confidential client.": lazy_gettext("client_credentials needs a confidential client."),
    "authorization_code needs at least one redirect URI.": lazy_gettext("authorization_code needs at least one redirect URI."),
    "a confidential client authenticates: token_endpoint_auth_method can't be none.": lazy_gettext(
        "a confidential client authenticates: token_endpoint_auth_method can't be none."
    ),
    "a public client has no secret: token_endpoint_auth_method must be none.": lazy_gettext(
        "a public client has no secret: token_endpoint_auth_method must be none."
    ),
    "backchannel_logout_uri must be an absolute URI of at most 500 characters, without spaces.": lazy_gettext(
        "backchannel_logout_uri must be an absolute URI of at most 500 characters, without spaces."
    ),
    "backchannel_logout_uri must not contain a fragment.": lazy_gettext("backchannel_logout_uri must not contain a fragment."),
    "backchannel_logout_uri must not contain user information.": lazy_gettext(
        "backchannel_logout_uri must not contain user information."
    ),
    "backchannel_logout_uri must use https (http only for loopback).": lazy_gettext(
        "backchannel_logout_uri must use https (http only for loopback)."
    ),
    "logo_uri, tos_uri and policy_uri must be https URLs.": lazy_gettext("logo_uri, tos_uri and policy_uri must be https URLs."),
    "private_key_jwt needs jwks with 1 to 10 public keys.": lazy_gettext("private_key_jwt needs jwks with 1 to 10 public keys."),
    "jwks may hold only RSA, EC or OKP public keys.": lazy_gettext("jwks may hold only RSA, EC or OKP public keys."),
    "jwks must not contain private key material.": lazy_gettext("jwks must not contain private key material."),
    "jwks could not be read as a JWK Set.": lazy_gettext("jwks could not be read as a JWK Set."),
}
_SCHEME_REFUSED = re.compile(r"^the (?P<scheme>[a-z]+): scheme is not allowed\.$")


def refusal_text(error: ClientSpecError) -> str:
    """A registration rule's refusal as the console shows it: translated when it is one of the known rules."""
    text = str(error)
    if text in _RULE_MESSAGES:
        return str(_RULE_MESSAGES[text])
    scheme = _SCHEME_REFUSED.match(text)
    if scheme:
        return gettext("The %(scheme)s: scheme is not allowed.", scheme=scheme["scheme"])
    return text


CLIENT_SORTS = SortableColumns(
    {"name": func.lower(OAuthClient.name), "created": OAuthClient.created_at},
    default=Sort("created", descending=True),
    newest_first=frozenset({"created"}),
)


def list_clients(sort: Sort = CLIENT_SORTS.default) -> list[OAuthClient]:
    return list(db.session.scalars(CLIENT_SORTS.apply(select(OAuthClient), sort, OAuthClient.id)))


def find_client(client_id: str) -> OAuthClient | None:
    if not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH:
        return None
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def uses_secret(client: OAuthClient) -> bool:
    """Confidential clients authenticate with a secret unless they sign assertions with their own keys."""
    return client.is_confidential and client.token_endpoint_auth_method != "private_key_jwt"


def add_client(
    spec: ClientSpec, *, roles_claim: bool, require_par: bool = False, actor: User, origin: Origin
) -> tuple[OAuthClient, str | None]:
    """Validate and add the client; its secret is returned for the one page that shows it."""
    client, secret = create_client(spec)
    client.roles_claim = roles_claim
    client.require_pushed_authorization_requests = require_par
    record_event(
        "admin.client_created",
        origin=origin,
        actor=actor,
        client_id=client.client_id,
        name=client.name,
        confidential=client.is_confidential,
        redirect_uris=client.redirect_uris,
        backchannel_logout_uri=client.backchannel_logout_uri,
        grant_types=client.grant_types,
        scope=client.scope,
    )
    return client, secret


def _kept_jwks(client: OAuthClient, spec: ClientSpec) -> dict | None:
    """The form's keys for private_key_jwt; else the stored ones while the client has responses encrypted to them
    (set by the CLI or registration: the console doesn't edit encryption, and must not strand it)."""
    if spec.token_endpoint_auth_method == "private_key_jwt":
        return spec.jwks
    encrypted = asks_for_encryption({name: getattr(client, name) for name in ENCRYPTION_FIELDS})
    return client.jwks if encrypted else None


def update_client(
    client: OAuthClient, spec: ClientSpec, *, roles_claim: bool, require_par: bool = False, actor: User, origin: Origin
) -> list[str]:
    """Replace the editable settings after the registration checks; returns the names of what changed."""
    if spec.is_confidential != client.is_confidential:
        # As in RFC 7592 updates: switching kind would strand or invent a secret; register a new client.
        raise ClientSpecError(lazy_gettext("A client can't switch between public and confidential; create a new one."))
    validate_spec(spec)
    values = {
        "name": spec.name,
        "redirect_uris": list(spec.redirect_uris),
        "post_logout_redirect_uris": list(spec.post_logout_redirect_uris),
        "backchannel_logout_uri": spec.backchannel_logout_uri,
        "backchannel_logout_session_required": spec.backchannel_logout_session_required,
        "grant_types": list(spec.grant_types),
        "scope": spec.scope,
        "token_endpoint_auth_method": spec.token_endpoint_auth_method or client.token_endpoint_auth_method,
        "application_type": spec.application_type,
        "is_first_party": spec.is_first_party,
        "logo_uri": spec.logo_uri,
        "tos_uri": spec.tos_uri,
        "policy_uri": spec.policy_uri,
        "jwks": _kept_jwks(client, spec),
        "roles_claim": roles_claim,
        "require_pushed_authorization_requests": require_par,
    }
    changed = [name for name in EDITABLE if getattr(client, name) != values[name]]
    for name in changed:
        setattr(client, name, values[name])
    client.response_types = ["code"] if "authorization_code" in client.grant_types else []
    if not uses_secret(client):
        client.client_secret_digest = None  # a key-signing client must not keep a secret that still works elsewhere
    record_event("admin.client_updated", origin=origin, actor=actor, client_id=client.client_id, fields=changed)
    return changed


def rotate_secret(client: OAuthClient, *, actor: User, origin: Origin) -> str:
    """A new secret replaces the old one at once (only its digest is kept); returned to be shown once."""
    if not uses_secret(client):
        raise ClientSpecError(lazy_gettext("Only a confidential client that authenticates with a secret has one to rotate."))
    secret = new_token(CLIENT_SECRET_PREFIX)
    client.client_secret_digest = token_digest(secret)
    record_event("admin.client_secret_rotated", origin=origin, actor=actor, client_id=client.client_id)
    return secret


def disable_client(client: OAuthClient, *, actor: User, origin: Origin) -> None:
    """No new tokens, and everything it holds is revoked (refresh families and their access tokens)."""
    client.is_disabled = True
    revoke_client_tokens(client)
    record_event("admin.client_disabled", origin=origin, actor=actor, client_id=client.client_id)


def enable_client(client: OAuthClient, *, actor: User, origin: Origin) -> None:
    client.is_disabled = False
    record_event("admin.client_enabled", origin=origin, actor=actor, client_id=client.client_id)


def delete_client(client: OAuthClient, *, actor: User, origin: Origin) -> None:
    """Revoke its tokens and remove it with every row that names it (codes, tokens, consents)."""
    record_event("admin.client_deleted", origin=origin, actor=actor, client_id=client.client_id, name=client.name)
    delete_client_and_grants(client)


def invalidate_cached(client_id: str) -> None:
    """After the commit: the token endpoint must not go on using this process's old snapshot."""
    client_cache().invalidate(client_id)
