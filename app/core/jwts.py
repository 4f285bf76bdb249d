"""JWT access tokens (RFC 9068) and ID tokens (OIDC Core 3.1.3.6): issued and validated here only."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import InvalidClaimError, JoseError

from app.core import deny_list
from app.core.claims import role_claims, user_claims
from app.core.keys import keyring
from app.core.protocol import acr_for
from app.core.response_encryption import encrypt_id_token
from app.models import ApiResource, OAuthClient, User
from app.models.base import utcnow

ACCESS_TOKEN_TYPE = "at+jwt"
# Per-key-type allow-list: a token is checked only with the algorithm its key was made for.
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_at: datetime
    expires_in: int


def default_audience() -> str:
    return current_app.config.get("ACCESS_TOKEN_AUDIENCE") or current_app.config["ISSUER"]


def subject_of(user: User) -> str:
    """The stable, never-reassigned subject identifier of a person."""
    return str(user.id)


def issue_access_token(
    client: OAuthClient,
    scope: str,
    *,
    user: User | None = None,
    auth_time: datetime | None = None,
    resource: ApiResource | None = None,
    dpop_jkt: str | None = None,
) -> IssuedAccessToken:
    """Sign an RFC 9068 access token, for an API (its audience, lifetime and algorithm) or for the IdP.

    Writes nothing: revocation works through the jti deny-list.
    """
    config = current_app.config
    now = utcnow()
    ttl = (resource and resource.access_token_seconds) or config["ACCESS_TOKEN_TTL"]
    signing = keyring().signing_key((resource and resource.signing_alg) or config["ACCESS_TOKEN_ALG"])
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": config["ISSUER"],
        "sub": subject_of(user) if user else client.client_id,
        "aud": resource.identifier if resource else default_audience(),
        "client_id": client.client_id,
        "scope": scope,
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if dpop_jkt is not None:
        claims["cnf"] = {"jkt": dpop_jkt}  # RFC 9449 6.1: only the holder of this key may use it
    if user is not None:
        claims.update(role_claims(client, user, scope))
    header = {"alg": signing.algorithm, "kid": signing.kid, "typ": ACCESS_TOKEN_TYPE}
    token = jwt.encode(header, claims, signing.key)
    return IssuedAccessToken(token, jti, now + timedelta(seconds=ttl), ttl)


def token_type(dpop_jkt: str | None) -> str:
    """The token response's token_type: DPoP for a key-bound access token (RFC 9449 5)."""
    return "DPoP" if dpop_jkt is not None else "Bearer"


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def issue_id_token(
    client: OAuthClient,
    user: User,
    scope: str,
    *,
    nonce: str | None,
    auth_time: datetime,
    amr: list[str],
    session_id: str | None,
    access_token: str | None,
) -> str:
    """Sign an ID token with RS256 (the algorithm every OIDC client supports); encrypt it if the client asked."""
    config = current_app.config
    now = int(utcnow().timestamp())
    signing = keyring().signing_key("RS256")
    claims = {
        "iss": config["ISSUER"],
        "sub": subject_of(user),
        "aud": client.client_id,
        "iat": now,
        "exp": now + config["ID_TOKEN_TTL"],
        "auth_time": int(auth_time.timestamp()),
        "amr": list(amr),
        "acr": acr_for(amr),
    }
    if nonce:
        claims["nonce"] = nonce
    if session_id:
        claims["sid"] = session_id
    if access_token:
        claims["at_hash"] = _at_hash(access_token)
    claims.update(user_claims(user, scope, client))
    signed = jwt.encode({"alg": "RS256", "kid": signing.kid, "typ": "JWT"}, claims, signing.key)
    return encrypt_id_token(client, signed)


def sign_userinfo(client: OAuthClient, claims: dict) -> str:
    """A signed UserInfo answer (OIDC Core 5.3.2): iss and aud added.

    No typ and no exp, so it can never pass as an ID token (an id_token_hint) or an access token.
    """
    signing = keyring().signing_key("RS256")
    payload = {**claims, "iss": current_app.config["ISSUER"], "aud": client.client_id}
    return jwt.encode({"alg": "RS256", "kid": signing.kid}, payload, signing.key)


class _ExpiryNotEnforced(jwt.JWTClaimsRegistry):
    """exp must still be present and numeric, but may have passed (an id_token_hint, RP-Initiated Logout 1.0 §2)."""

    def validate_exp(self, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise InvalidClaimError("exp", "Claim 'exp' must be a NumericDate value")


def decode_own_jwt(token: str, *, expected_typ: str | None, allow_expired: bool = False) -> dict | None:
    """Verify a JWT we signed: known kid, that key's own algorithm, signature, iss and exp. None when invalid."""
    if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
        return None
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        return None
    loaded = keyring().verifying_key(str(header.get("kid", "")))
    if loaded is None or header.get("alg") != loaded.algorithm:
        return None  # alg "none", HS256 with our public key, or a foreign key: all refused here
    if expected_typ is not None and str(header.get("typ", "")).lower() != expected_typ:
        return None
    try:
        decoded = jwt.decode(token, loaded.key, algorithms=[loaded.algorithm])
        registry = _ExpiryNotEnforced if allow_expired else jwt.JWTClaimsRegistry
        registry(
            iss={"essential": True, "value": current_app.config["ISSUER"]},
            exp={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError):
        return None
    return decoded.claims


def validate_access_token(token: str) -> dict | None:
    """Claims of a live access token (signature, type, issuer, expiry, deny-list), else None."""
    claims = decode_own_jwt(token, expected_typ=ACCESS_TOKEN_TYPE)
    if claims is None or not claims.get("jti") or deny_list.is_denied(claims["jti"]):
        return None
    return claims
