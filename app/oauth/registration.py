"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592): metadata in, clients out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.core.audit import Origin, record_event
from app.core.clients import (
    APPLICATION_TYPES,
    ClientSpec,
    ClientSpecError,
    backchannel_from_metadata,
    create_client,
    encryption_from_metadata,
    refuse_private_use_schemes,
    validate_spec,
)
from app.core.protocol import AUTHORIZATION_CODE, REFRESH_TOKEN
from app.core.response_encryption import FIELDS as ENCRYPTION_FIELDS
from app.core.revocation import delete_client_and_grants
from app.core.scopes import INVALID_SCOPE_SYNTAX, is_valid_scope
from app.extensions import db
from app.models import OAuthClient
from app.security import constant_time_equals, new_token, token_digest

REGISTRATION_TOKEN_PREFIX = "rat_"
# Self-registered clients get the person-facing flow only: no machine tokens, no device flow (yet).
REGISTRABLE_GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN)
REGISTRABLE_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
DEFAULT_SCOPE = "openid profile email"
MAX_URIS = 10
# Fields the server sets; a client may not send them in an update (RFC 7592 2.2).
SERVER_FIELDS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
# Understood but only honoured at one value: refusing beats silently ignoring (OIDC Registration 3.3).
FIXED_VALUES = {"id_token_signed_response_alg": "RS256", "subject_type": "public"}
UNSUPPORTED = ("request_object_encryption_alg",)


@dataclass(frozen=True)
class Registration:
    """A new client with its one-time secrets: the client secret (confidential only) and the RFC 7592 token."""

    client: OAuthClient
    client_secret: str | None
    registration_token: str


def registration_enabled(config) -> bool:
    return bool(config["OPEN_CLIENT_REGISTRATION"] or config["REGISTRATION_INITIAL_TOKEN"])


def may_register(config, bearer: str | None) -> bool:
    """Open registration, or the configured initial access token (compared as digests, in constant time)."""
    if config["OPEN_CLIENT_REGISTRATION"]:
        return True
    initial = config["REGISTRATION_INITIAL_TOKEN"]
    return bool(initial and bearer) and constant_time_equals(token_digest(bearer), token_digest(initial))


def _string(data: dict, name: str, *, max_length: int = 500) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ClientSpecError(f"{name} must be a string of at most {max_length} characters.")
    return value


def _string_list(data: dict, name: str, error: str = "invalid_client_metadata") -> list[str] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_URIS or not all(isinstance(v, str) for v in value):
        raise ClientSpecError(f"{name} must be an array of at most {MAX_URIS} strings.", error)
    return list(dict.fromkeys(value))


def _check_unsupported(data: dict) -> None:
    for name, only in FIXED_VALUES.items():
        if data.get(name) not in (None, only):
            raise ClientSpecError(f"{name} can only be {only}.")
    for name in UNSUPPORTED:
        if data.get(name) is not None:
            raise ClientSpecError(f"{name} is not supported.")


def _grant_types(data: dict) -> list[str]:
    """Code flow (plus refresh) only, and response_types exactly ["code"] to match (RFC 7591 2.1)."""
    grant_types = _string_list(data, "grant_types")
    grant_types = [AUTHORIZATION_CODE] if grant_types is None else grant_types  # RFC 7591 2 default
    refused = sorted(set(grant_types) - set(REGISTRABLE_GRANT_TYPES))
    if refused or not grant_types:
        allowed = " and ".join(REGISTRABLE_GRANT_TYPES)
        raise ClientSpecError(f"grant_types may only be {allowed}; refused: {refused or 'none given'}.")
    if AUTHORIZATION_CODE not in grant_types:
        raise ClientSpecError("refresh_token needs the authorization_code grant.")
    response_types = _string_list(data, "response_types")
    response_types = ["code"] if response_types is None else response_types
    if response_types != ["code"]:
        raise ClientSpecError('response_types must be ["code"]: no implicit or hybrid responses.')
    return grant_types


def _scope(data: dict) -> str:
    requested = _string(data, "scope", max_length=1000)
    if requested is not None and not is_valid_scope(requested):
        raise ClientSpecError(f"scope: {INVALID_SCOPE_SYNTAX}")
    scopes = list(dict.fromkeys((DEFAULT_SCOPE if requested is None else requested).split()))
    allowed = set(current_app.config["REGISTRATION_SCOPES"].split())
    refused = [s for s in scopes if s not in allowed]
    if refused or not scopes:
        raise ClientSpecError(f"scope may only hold {' '.join(sorted(allowed))}; refused: {refused or 'none given'}.")
    return " ".join(scopes)


def _name(data: dict) -> str:
    name = (_string(data, "client_name", max_length=100) or "").strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ClientSpecError("client_name must not contain control characters.")
    return name or "Unnamed app"


def _application_type(data: dict) -> str:
    """OIDC Registration 2: web unless the client says native; anything else is refused, not guessed."""
    value = data.get("application_type")
    if value is None:
        return "web"
    if value not in APPLICATION_TYPES:  # also a number, a list or an object: never a 500
        raise ClientSpecError("application_type must be web or native.")
    return value


def requires_par(data: dict) -> bool:
    """RFC 9126 6: the client asks that its authorization requests be accepted only when pushed."""
    return _flag(data, "require_pushed_authorization_requests")


def requires_dpop(data: dict) -> bool:
    """RFC 9449 5.2 dpop_bound_access_tokens: the client always uses DPoP, so a token request without it is refused."""
    return _flag(data, "dpop_bound_access_tokens")


def _flag(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise ClientSpecError(f"{name} must be true or false.")
    return value


def spec_from_metadata(data: Any) -> ClientSpec:
    """RFC 7591 2 (and OIDC Registration 2) metadata to a ClientSpec; raises ClientSpecError with the RFC error."""
    if not isinstance(data, dict):
        raise ClientSpecError("Send the client metadata as a JSON object.")
    _check_unsupported(data)
    application_type = _application_type(data)
    method = _string(data, "token_endpoint_auth_method") or "client_secret_basic"
    if method not in REGISTRABLE_AUTH_METHODS:
        raise ClientSpecError(f"token_endpoint_auth_method must be one of {', '.join(REGISTRABLE_AUTH_METHODS)}.")
    grant_types = _grant_types(data)
    spec = ClientSpec(
        name=_name(data),
        is_confidential=method != "none",
        redirect_uris=_string_list(data, "redirect_uris", "invalid_redirect_uri") or [],
        grant_types=grant_types,
        scope=_scope(data),
        post_logout_redirect_uris=_string_list(data, "post_logout_redirect_uris", "invalid_redirect_uri") or [],
        token_endpoint_auth_method=method,
        is_first_party=False,  # never: a self-registered app always meets the consent page
        logo_uri=_string(data, "logo_uri"),
        tos_uri=_string(data, "tos_uri"),
        policy_uri=_string(data, "policy_uri"),
        is_native=application_type == "native",
        **backchannel_from_metadata(data),
        **encryption_from_metadata(data),
    )
    if application_type == "web":
        refuse_private_use_schemes(spec.redirect_uris + spec.post_logout_redirect_uris)
    validate_spec(spec)
    return spec


def register_client(data: Any, *, origin: Origin) -> Registration:
    """Validate the metadata and add a flagged, non-first-party client. The caller commits."""
    spec = spec_from_metadata(data)
    require_par, require_dpop = requires_par(data), requires_dpop(data)
    client, secret = create_client(spec)
    client.require_pushed_authorization_requests, client.require_dpop = require_par, require_dpop
    registration_token = new_token(REGISTRATION_TOKEN_PREFIX)
    client.registration_token_digest = token_digest(registration_token)
    client.is_dynamically_registered = True
    client.is_first_party = False
    record_event(
        "oauth.client_registered",
        origin=origin,
        client_id=client.client_id,
        confidential=client.is_confidential,
        application_type=client.application_type,
        redirect_uris=client.redirect_uris,
        scope=client.scope,
    )
    return Registration(client, secret, registration_token)


def find_registered_client(client_id: str, presented: str | None) -> OAuthClient | None:
    """The client whose RFC 7592 token this is; None for any mismatch, so other clients are never revealed."""
    if not client_id or len(client_id) > 64 or not presented or len(presented) > 128:
        return None
    digest = token_digest(presented)
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or not client.registration_token_digest:
        return None
    return client if constant_time_equals(digest, client.registration_token_digest) else None


def update_client(client: OAuthClient, data: Any, *, origin: Origin) -> None:
    """RFC 7592 2.2: the body replaces the metadata. The secret and the registration token stay as they are."""
    if not isinstance(data, dict):
        raise ClientSpecError("Send the client metadata as a JSON object.")
    if data.get("client_id") != client.client_id:
        raise ClientSpecError("The body must carry this client's client_id.", "invalid_request")
    sent = [name for name in SERVER_FIELDS if name in data]
    if sent:
        raise ClientSpecError(f"These fields are set by the server: {', '.join(sent)}.", "invalid_request")
    if "client_secret" in data and not client.check_client_secret(data["client_secret"]):
        raise ClientSpecError("client_secret does not match; it can't be chosen by the client.", "invalid_request")
    spec = spec_from_metadata(data)
    require_par, require_dpop = requires_par(data), requires_dpop(data)
    if spec.is_confidential != client.is_confidential:
        raise ClientSpecError("A client can't switch between public (none) and confidential; register a new one.")
    client.name = spec.name
    client.logo_uri, client.tos_uri, client.policy_uri = spec.logo_uri, spec.tos_uri, spec.policy_uri
    client.token_endpoint_auth_method = spec.token_endpoint_auth_method
    # Omitted means web (RFC 7592 2.2 replaces); spec_from_metadata checked the URIs against the new type.
    client.application_type = spec.application_type
    client.redirect_uris = list(spec.redirect_uris)
    client.post_logout_redirect_uris = list(spec.post_logout_redirect_uris)
    # Omitted means none and false, like every other field of a replacing update.
    client.backchannel_logout_uri = spec.backchannel_logout_uri
    client.backchannel_logout_session_required = spec.backchannel_logout_session_required
    client.grant_types = list(spec.grant_types)
    client.response_types = ["code"]
    client.scope = spec.scope
    client.require_pushed_authorization_requests, client.require_dpop = require_par, require_dpop
    client.jwks = spec.jwks
    for name, value in spec.encryption.items():
        setattr(client, name, value)
    record_event(
        "oauth.client_updated",
        origin=origin,
        client_id=client.client_id,
        application_type=client.application_type,
        redirect_uris=client.redirect_uris,
    )


def delete_client(client: OAuthClient, *, origin: Origin) -> None:
    """RFC 7592 2.3: revoke what the client holds, then remove it and every row that names it."""
    record_event("oauth.client_deleted", origin=origin, client_id=client.client_id)
    delete_client_and_grants(client)


def client_information(client: OAuthClient, *, registration_token: str, client_secret: str | None = None) -> dict:
    """RFC 7591 3.2.1 / RFC 7592 3: the registered metadata, plus the secret only when it was just issued."""
    issuer = current_app.config["ISSUER"]
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "application_type": client.application_type,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_session_required": bool(client.backchannel_logout_session_required),
        "grant_types": list(client.grant_types),
        "response_types": list(client.response_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": client.scope,
        "require_pushed_authorization_requests": bool(client.require_pushed_authorization_requests),
        "dpop_bound_access_tokens": bool(client.require_dpop),
        "registration_client_uri": f"{issuer}/oauth/register/{client.client_id}",
        "registration_access_token": registration_token,
    }
    for name in ("logo_uri", "tos_uri", "policy_uri", "backchannel_logout_uri", "jwks", *ENCRYPTION_FIELDS):
        if getattr(client, name):
            body[name] = getattr(client, name)
    if client.is_confidential:
        body["client_secret_expires_at"] = 0
    if client_secret:
        body["client_secret"] = client_secret
    return body
