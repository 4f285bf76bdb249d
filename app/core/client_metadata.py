"""Client ID Metadata Documents: an https URL as client_id, naming the JSON that describes the client.

draft-ietf-oauth-client-id-metadata-document (and the MCP authorization spec built on it): the server
fetches the document itself, checks it and uses it as the client's registration. Anyone may name any
URL, so the fetch is guarded against server-side request forgery: https only, a host whose every
address is public, the connection made to that checked address, no redirects, small, quick and JSON.

A document that passes becomes an OAuthClient row (codes, tokens and consents keep their foreign
keys), marked is_metadata_document and fetched again once metadata_expires_at passes. If that fetch
fails the client is refused: a stale document is never served in place of one that can't be had now.
The fetch itself, and its guards, are in app/core/client_metadata_fetch.py.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

from flask import current_app
from sqlalchemy import update

from app.core.client_metadata_fetch import MetadataError, fetch_document
from app.core.clients import ClientSpec, ClientSpecError, backchannel_from_metadata, validate_spec
from app.core.inserts import insert_ignoring_duplicates
from app.extensions import db
from app.models import OAuthClient
from app.models.base import utcnow
from app.models.oauth import MAX_CLIENT_ID_LENGTH

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 30.0  # a refused URL is not fetched again sooner (per process)
_GRANT_TYPES = ("authorization_code", "refresh_token")
_AUTH_METHODS = ("none", "private_key_jwt")  # never a shared secret: the document is public
_TEXT_LIMITS = {"client_name": 100, "logo_uri": 500, "client_uri": 500, "policy_uri": 500, "tos_uri": 500}
_DOT_SEGMENTS = {".", "..", "%2e", "%2e%2e", ".%2e", "%2e."}

_now = utcnow  # the clock metadata_expires_at is compared with (tests move it)


def enabled(config) -> bool:
    return bool(config["CLIENT_ID_METADATA_DOCUMENTS"])


def is_metadata_url(client_id: str) -> bool:
    """Whether a client_id is meant as a document URL (then it is one, or no client at all)."""
    return client_id[:8].lower() == "https://" or client_id[:7].lower() == "http://"


def needs_refresh(client: OAuthClient) -> bool:
    return client.is_metadata_document and (client.metadata_expires_at is None or _now() >= client.metadata_expires_at)


def check_client_id_url(url: str, config) -> SplitResult:
    """The URL's parts, if it may name a metadata document here (draft section 3); MetadataError otherwise."""
    if len(url) > MAX_CLIENT_ID_LENGTH or not url.isascii() or not url.isprintable() or " " in url:
        raise MetadataError(f"client_id URL longer than {MAX_CLIENT_ID_LENGTH} or not printable ASCII")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise MetadataError("client_id URL can't be parsed") from exc
    if not (url.startswith("https://") or (config["CLIENT_ID_METADATA_ALLOW_HTTP"] and url.startswith("http://"))):
        raise MetadataError("client_id URL must use https")
    if not parts.hostname or "@" in parts.netloc:
        raise MetadataError("client_id URL needs a host and no user information")
    if "#" in url or "?" in url:
        raise MetadataError("client_id URL must have no fragment and no query")
    if parts.path in ("", "/") or any(segment.lower() in _DOT_SEGMENTS for segment in parts.path.split("/")):
        raise MetadataError("client_id URL needs a path, without . or .. segments")
    hosts = {host.strip().lower() for host in (config["CLIENT_ID_METADATA_HOSTS"] or "").split(",") if host.strip()}
    if hosts and parts.hostname not in hosts:
        raise MetadataError("client_id URL's host is not in IDP_CLIENT_ID_METADATA_HOSTS")
    return parts


# --- the document ---


def client_spec(document: object, url: str, host: str, config) -> ClientSpec:
    """The registration a document describes, with the rules every other client meets (validate_spec)."""
    if not isinstance(document, dict):
        raise MetadataError("document is not a JSON object")
    if document.get("client_id") != url:
        raise MetadataError("document's client_id is not the URL it was fetched from")
    if any(name.startswith("client_secret") for name in document):
        raise MetadataError("document holds a client_secret (a public document can't keep one)")
    method = document.get("token_endpoint_auth_method", "none")
    if method not in _AUTH_METHODS:
        raise MetadataError("token_endpoint_auth_method must be none or private_key_jwt")
    if "jwks_uri" in document:
        raise MetadataError("jwks_uri is not supported: give the public keys inline in jwks")
    for name, limit in _TEXT_LIMITS.items():
        value = document.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise MetadataError(f"{name} must be a string of at most {limit} characters")
        if name.endswith("_uri") and value and not value.startswith("https://"):
            raise MetadataError(f"{name} must be an https URL")
    grant_types = _strings(document, "grant_types", ["authorization_code"])
    if "authorization_code" not in grant_types or not set(grant_types) <= set(_GRANT_TYPES):
        raise MetadataError("grant_types must be authorization_code, and refresh_token if wanted")
    if _strings(document, "response_types", ["code"]) != ["code"]:
        raise MetadataError("response_types must be code")
    application_type = document.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise MetadataError("application_type must be web or native")
    spec = ClientSpec(
        name=document.get("client_name") or host,
        is_confidential=method == "private_key_jwt",
        redirect_uris=_strings(document, "redirect_uris", []),
        grant_types=grant_types,
        scope=_scope(document.get("scope"), config),
        post_logout_redirect_uris=_strings(document, "post_logout_redirect_uris", []),
        token_endpoint_auth_method=method,
        logo_uri=document.get("logo_uri"),
        tos_uri=document.get("tos_uri"),
        policy_uri=document.get("policy_uri"),
        is_native=application_type == "native",
        jwks=document.get("jwks") if method == "private_key_jwt" else None,
        **backchannel_from_metadata(document),
    )
    if not spec.redirect_uris:
        raise MetadataError("redirect_uris must list at least one redirect URI")
    try:
        validate_spec(spec)
    except ClientSpecError as exc:
        raise MetadataError(str(exc)) from None
    return spec


def _strings(document: dict, name: str, default: list[str]) -> list[str]:
    value = document.get(name, default)
    if not isinstance(value, list) or len(value) > 10 or not all(isinstance(item, str) for item in value):
        raise MetadataError(f"{name} must be a list of at most 10 strings")
    return value


def _scope(requested: object, config) -> str:
    """What a self-registered client may have (IDP_REGISTRATION_SCOPES), narrowed to the document's scope."""
    allowed = config["REGISTRATION_SCOPES"].split()
    if requested is None:
        return " ".join(allowed)
    if not isinstance(requested, str) or len(requested) > 1000:
        raise MetadataError("scope must be a string")
    return " ".join(scope for scope in allowed if scope in requested.split())


# --- the row ---


def refresh(url: str) -> bool:
    """Fetch and check the document, and store it as the client's row (committed); False if refused, logged."""
    config = current_app.config
    failures: dict[str, float] = current_app.extensions.setdefault("idp_client_metadata_failures", {})
    if time.monotonic() - failures.get(url, float("-inf")) < RETRY_AFTER_FAILURE_SECONDS:
        return False
    try:
        parts = check_client_id_url(url, config)
        fetched = fetch_document(parts, config)
        spec = client_spec(fetched.document, url, parts.hostname or "", config)
    except MetadataError as error:
        if len(failures) > 10_000:
            failures.clear()
        failures[url] = time.monotonic()
        log.warning("client metadata document refused: %s; client_id=%s", error, url)
        return False
    failures.pop(url, None)
    _store(url, spec, _now() + fetched.lifetime)
    log.info("client metadata document fetched; client_id=%s lifetime=%ss", url, int(fetched.lifetime.total_seconds()))
    return True


def _store(url: str, spec: ClientSpec, expires_at: datetime) -> None:
    """Update the client's row, or add it; committed at once, because codes point at it and other workers reuse it."""
    values = {
        "name": spec.name,
        "logo_uri": spec.logo_uri,
        "tos_uri": spec.tos_uri,
        "policy_uri": spec.policy_uri,
        "is_confidential": spec.is_confidential,
        "token_endpoint_auth_method": spec.token_endpoint_auth_method,
        "application_type": spec.application_type,
        "redirect_uris": list(spec.redirect_uris),
        "post_logout_redirect_uris": list(spec.post_logout_redirect_uris),
        "backchannel_logout_uri": spec.backchannel_logout_uri,
        "backchannel_logout_session_required": spec.backchannel_logout_session_required,
        "grant_types": list(spec.grant_types),
        "response_types": ["code"],
        "scope": spec.scope,
        "jwks": spec.jwks,
        "metadata_expires_at": expires_at,
    }
    statement = (
        update(OAuthClient)
        .where(OAuthClient.client_id == url, OAuthClient.is_metadata_document.is_(True))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if db.session.execute(statement).rowcount == 0:
        # Never first-party, never reviewed; a parallel fetch that inserted first wins, with the same document.
        row = {"client_id": url, "is_metadata_document": True, "is_first_party": False, "created_at": _now(), **values}
        insert_ignoring_duplicates(OAuthClient.__table__, row, [OAuthClient.__table__.c.client_id])
    db.session.commit()
