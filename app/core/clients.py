"""Client registration rules shared by the CLI, dynamic registration and the admin console."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.core.protocol import GRANT_TYPES
from app.core.response_encryption import EncryptionSettingsError, asks_for_encryption, check_encryption_keys, settings_from
from app.extensions import db
from app.models import OAuthClient
from app.security import new_token, token_digest

CLIENT_SECRET_PREFIX = "cs_"
APPLICATION_TYPES = ("web", "native")  # OIDC Dynamic Client Registration 2: how a redirect URI is judged
_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "[::1]", "localhost"}


class ClientSpecError(ValueError):
    """The registration is refused; the message names the field (RFC 7591 invalid_client_metadata)."""

    def __init__(self, message: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(message)
        self.error = error


@dataclass
class ClientSpec:
    name: str
    is_confidential: bool
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    # OIDC Back-Channel Logout 2.2: where the app is told, server to server, that a session here ended.
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    token_endpoint_auth_method: str | None = None
    is_first_party: bool = False
    logo_uri: str | None = None
    tos_uri: str | None = None
    policy_uri: str | None = None
    is_native: bool = False
    jwks: dict | None = None
    # OIDC Registration 2 response encryption and UserInfo signing, by metadata name (= column name).
    encryption: dict[str, str | None] = field(default_factory=dict)

    @property
    def application_type(self) -> str:
        """Native apps may use private-use schemes and any loopback port (RFC 8252); web clients may not."""
        return "native" if self.is_native else "web"


def _uri_fault(uri: object, *, private_use: bool = False) -> str | None:
    """What is wrong with a URI this server sends people or requests to, or None: https, or http only on
    loopback; no fragment, userinfo or script schemes (OAuth 2.1 2.3.1); private-use schemes only if allowed."""
    if not isinstance(uri, str) or not uri or len(uri) > 500 or any(ord(c) < 33 for c in uri):
        return "syntax"
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if parts.fragment or "#" in uri:
        return "fragment"
    if scheme in {"javascript", "data", "vbscript", "file"}:
        return "scheme"
    if parts.username or parts.password or "@" in parts.netloc:
        return "userinfo"
    if scheme == "https" and parts.hostname:
        return None
    if scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return None
    if private_use and scheme not in {"http", "https"} and "." in scheme and not parts.netloc.startswith("/"):
        return None  # private-use scheme such as com.example.app:/callback (RFC 8252 7.1)
    return "https"


_REDIRECT_URI_FAULTS = {
    "syntax": "redirect_uris must be absolute URIs without spaces.",
    "fragment": "redirect_uris must not contain a fragment.",
    "userinfo": "redirect_uris must not contain user information.",
    "https": "redirect_uris must use https (http only for loopback).",
}


def check_redirect_uri(uri: str, *, native: bool = False) -> None:
    """A redirect or post-logout redirect URI; native apps may also use private-use schemes (RFC 8252 7.1)."""
    fault = _uri_fault(uri, private_use=native)
    if fault == "scheme":
        raise ClientSpecError(f"the {urlsplit(uri).scheme.lower()}: scheme is not allowed.", "invalid_redirect_uri")
    if fault:
        raise ClientSpecError(_REDIRECT_URI_FAULTS[fault], "invalid_redirect_uri")


_BACKCHANNEL_URI_FAULTS = {
    "syntax": "backchannel_logout_uri must be an absolute URI of at most 500 characters, without spaces.",
    "fragment": "backchannel_logout_uri must not contain a fragment.",
    "userinfo": "backchannel_logout_uri must not contain user information.",
    "scheme": "backchannel_logout_uri must use https (http only for loopback).",
    "https": "backchannel_logout_uri must use https (http only for loopback).",
}


def check_backchannel_logout_uri(uri: object) -> None:
    """OIDC Back-Channel Logout 2.2: where this server POSTs logout tokens. The redirect URI rules without private-use
    schemes (the spec: an absolute URI, never a fragment), and what a URI this server connects to must also be."""
    fault = _uri_fault(uri) or _outbound_uri_fault(str(uri))
    if fault:
        raise ClientSpecError(_BACKCHANNEL_URI_FAULTS[fault])


def _outbound_uri_fault(uri: str) -> str | None:
    """Printable ASCII (an IRI would need encoding first) and a port that parses: else the request could not be made."""
    try:
        urlsplit(uri).port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "syntax"
    return None if uri.isascii() and uri.isprintable() else "syntax"


def validate_spec(spec: ClientSpec) -> None:
    if not spec.name or len(spec.name) > 100:
        raise ClientSpecError("client_name is required (at most 100 characters).")
    unknown = set(spec.grant_types) - set(GRANT_TYPES)
    if unknown or not spec.grant_types:
        raise ClientSpecError(f"unsupported grant_types: {sorted(unknown) or 'none given'}.")
    if "client_credentials" in spec.grant_types and not spec.is_confidential:
        raise ClientSpecError("client_credentials needs a confidential client.")
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        raise ClientSpecError("authorization_code needs at least one redirect URI.", "invalid_redirect_uri")
    for uri in spec.redirect_uris + spec.post_logout_redirect_uris:
        check_redirect_uri(uri, native=spec.is_native)
    if spec.backchannel_logout_uri is not None:
        check_backchannel_logout_uri(spec.backchannel_logout_uri)
    if not isinstance(spec.backchannel_logout_session_required, bool):  # JSON metadata: true or false, never "yes"
        raise ClientSpecError("backchannel_logout_session_required must be true or false.")
    method = spec.token_endpoint_auth_method
    if spec.is_confidential and method == "none":
        raise ClientSpecError("a confidential client authenticates: token_endpoint_auth_method can't be none.")
    if not spec.is_confidential and method not in (None, "none"):
        raise ClientSpecError("a public client has no secret: token_endpoint_auth_method must be none.")
    if method == "private_key_jwt":
        _check_jwks(spec.jwks)
    for uri in (spec.logo_uri, spec.tos_uri, spec.policy_uri):
        if uri and (urlsplit(uri).scheme != "https" or len(uri) > 500):
            raise ClientSpecError("logo_uri, tos_uri and policy_uri must be https URLs.")
    try:
        check_encryption_keys(settings_from(spec.encryption), spec.jwks)
    except EncryptionSettingsError as error:
        raise ClientSpecError(str(error)) from error


def _check_jwks(jwks: dict | None) -> None:
    """private_key_jwt needs public keys only, inline (no jwks_uri fetching, so no outbound requests)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not keys or not isinstance(keys, list) or len(keys) > 10:
        raise ClientSpecError("private_key_jwt needs jwks with 1 to 10 public keys.")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in {"RSA", "EC", "OKP"}:
            raise ClientSpecError("jwks may hold only RSA, EC or OKP public keys.")
        if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi")):
            raise ClientSpecError("jwks must not contain private key material.")
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError) as exc:
        raise ClientSpecError("jwks could not be read as a JWK Set.") from exc


def refuse_private_use_schemes(uris: list[str]) -> None:
    """Say why com.example.app:/cb fails for a web client (RFC 8252 7.1 schemes are for native apps only)."""
    for uri in uris:
        scheme = urlsplit(uri).scheme.lower() if isinstance(uri, str) else ""
        if "." in scheme:
            raise ClientSpecError(f"the private-use scheme {scheme[:40]}: needs application_type native.", "invalid_redirect_uri")


def backchannel_from_metadata(data: dict) -> dict:
    """ClientSpec fields for OIDC Back-Channel Logout 2.2 metadata, as sent: validate_spec checks them."""
    return {
        "backchannel_logout_uri": data.get("backchannel_logout_uri"),
        "backchannel_logout_session_required": data.get("backchannel_logout_session_required", False),
    }


def encryption_from_metadata(data: dict) -> dict:
    """ClientSpec fields for OIDC Registration 2 encryption: settings, and the inline jwks only when they need it."""
    try:
        settings = settings_from(data)
    except EncryptionSettingsError as error:
        raise ClientSpecError(str(error)) from error
    return {"encryption": settings, "jwks": data.get("jwks") if asks_for_encryption(settings) else None}


def new_client_id() -> str:
    """32 URL-safe characters starting with a letter: an id that starts with "-" reads as an option to
    every command line it is pasted into (flask clients delete -abc...)."""
    return secrets.choice(string.ascii_letters) + new_token()[:31]


def create_client(spec: ClientSpec) -> tuple[OAuthClient, str | None]:
    """Validate and add the client; returns it with its secret, shown this once and never stored."""
    validate_spec(spec)
    uses_secret = spec.is_confidential and spec.token_endpoint_auth_method != "private_key_jwt"
    secret = new_token(CLIENT_SECRET_PREFIX) if uses_secret else None
    client = OAuthClient(
        client_id=new_client_id(),
        client_secret_digest=token_digest(secret) if secret else None,
        name=spec.name,
        logo_uri=spec.logo_uri,
        tos_uri=spec.tos_uri,
        policy_uri=spec.policy_uri,
        is_confidential=spec.is_confidential,
        token_endpoint_auth_method=spec.token_endpoint_auth_method or ("client_secret_basic" if spec.is_confidential else "none"),
        application_type=spec.application_type,
        redirect_uris=list(spec.redirect_uris),
        post_logout_redirect_uris=list(spec.post_logout_redirect_uris),
        backchannel_logout_uri=spec.backchannel_logout_uri,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
        grant_types=list(spec.grant_types),
        response_types=["code"] if "authorization_code" in spec.grant_types else [],
        scope=spec.scope,
        is_first_party=spec.is_first_party,
        jwks=spec.jwks,
        **settings_from(spec.encryption),
    )
    db.session.add(client)
    db.session.flush()
    return client, secret
