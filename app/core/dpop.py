"""DPoP (RFC 9449): checking a proof of possession, its replay store and the server's nonces.

A proof is a small JWS the client signs for one HTTP request with a key it keeps; the access token
(and a public client's refresh token) is bound to that key's RFC 7638 thumbprint, the jkt. This
module knows nothing of the request: callers pass the header values, method and endpoint URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import redis
from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import UsedDpopProof
from app.models.base import utcnow
from app.security import token_digest

PROOF_TYPE = "dpop+jwt"
# Asymmetric only: "none" and HMAC (a secret shared with nobody) prove nothing (RFC 9449 4.3 check 5).
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "PS256", "Ed25519")  # not EdDSA: RFC 9864 deprecates it
INVALID_PROOF = "invalid_dpop_proof"
USE_NONCE = "use_dpop_nonce"
MAX_PROOF_LENGTH = 8192  # an RSA-4096 key and its signature fit several times over
MAX_JTI_LENGTH = 128
IAT_PAST_SECONDS = 60  # how old a proof may be: also how long its jti is remembered
IAT_FUTURE_SECONDS = 5  # clock skew the other way
NONCE_BUCKET_SECONDS = 300  # a nonce is valid for its bucket and the next one
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_DEFAULT_PORTS = {"https": 443, "http": 80}
# joserfc's default caps a header at 512 bytes: too small for a proof carrying an RSA key in its jwk.
_REGISTRY = JWSRegistry(algorithms=list(ALGORITHMS))
_REGISTRY.max_header_length = MAX_PROOF_LENGTH

log = logging.getLogger(__name__)


class DpopError(Exception):
    """A proof that can't be accepted; ``error`` is invalid_dpop_proof or use_dpop_nonce (RFC 9449 5, 8)."""

    def __init__(self, description: str, error: str = INVALID_PROOF) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class DpopProof:
    jkt: str  # base64url SHA-256 thumbprint of the proof's public key (RFC 7638)
    jti: str


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url SHA-256 of the access token's ASCII bytes (RFC 9449 4.2)."""
    return _b64(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def endpoint_url(path: str) -> str:
    """The URL a proof names (htu) for one of our endpoints: the issuer's, never the Host header's."""
    return current_app.config["ISSUER"].rstrip("/") + path


def verify_proof(
    values: list[str], *, method: str, url: str, access_token: str | None = None, now: float | None = None
) -> DpopProof:
    """Check the request's DPoP header values (RFC 9449 4.3) and record the jti; raises DpopError."""
    now = time.time() if now is None else now
    proof = _single_proof(values)
    header, key = _header_and_key(proof)
    try:
        claims = json.loads(jws.deserialize_compact(proof, key, algorithms=[header["alg"]], registry=_REGISTRY).payload)
    except (JoseError, ValueError, TypeError):
        raise DpopError("The DPoP proof's signature does not verify.") from None
    if not isinstance(claims, dict):
        raise DpopError("The DPoP proof's payload is not a JSON object.")
    jti = _check_claims(claims, method=method, url=url, access_token=access_token, now=now)
    if current_app.config.get("DPOP_NONCE") and not nonce_is_fresh(claims.get("nonce"), now=now):
        raise DpopError("Use the nonce from the DPoP-Nonce header.", USE_NONCE)
    if not _first_use(jti):
        raise DpopError("The DPoP proof was already used.")
    return DpopProof(jkt=key.thumbprint(), jti=jti)


def _single_proof(values: list[str]) -> str:
    # Repeated headers reach WSGI joined by ", ": a comma is a second header (a proof holds none).
    if len(values) != 1 or "," in values[0]:
        raise DpopError("Send exactly one DPoP header.")
    proof = values[0].strip()
    if len(proof) > MAX_PROOF_LENGTH or not _COMPACT.fullmatch(proof):
        raise DpopError("The DPoP header is not a compact JWS.")
    return proof


def _header_and_key(proof: str):
    try:
        header = jws.extract_compact(proof.encode("ascii"), registry=_REGISTRY).headers()
    except (JoseError, ValueError, UnicodeError):
        raise DpopError("The DPoP proof's header can't be read.") from None
    if header.get("typ") != PROOF_TYPE:
        raise DpopError("The DPoP proof's typ must be dpop+jwt.")
    if header.get("alg") not in ALGORITHMS:
        raise DpopError(f"The DPoP proof's alg must be one of {', '.join(ALGORITHMS)}.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("EC", "RSA", "OKP"):
        raise DpopError("The DPoP proof's jwk header must be a public EC, RSA or OKP key.")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise DpopError("The DPoP proof's jwk must not contain a private key.")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError):
        raise DpopError("The DPoP proof's jwk is not a usable key.") from None
    return header, key


def _check_claims(claims: dict, *, method: str, url: str, access_token: str | None, now: float) -> str:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise DpopError(f"The DPoP proof needs a jti of at most {MAX_JTI_LENGTH} characters.")
    if claims.get("htm") != method:
        raise DpopError("The DPoP proof's htm is not this request's method.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalized_url(htu) != normalized_url(url):
        raise DpopError("The DPoP proof's htu is not this endpoint's URL.")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or iat != iat:
        raise DpopError("The DPoP proof needs a numeric iat.")
    if not now - IAT_PAST_SECONDS <= iat <= now + IAT_FUTURE_SECONDS:
        raise DpopError("The DPoP proof's iat is too old or in the future.")
    if access_token is not None and not (
        isinstance(claims.get("ath"), str) and hmac.compare_digest(claims["ath"], access_token_hash(access_token))
    ):
        raise DpopError("The DPoP proof's ath does not match the access token.")
    return jti


def normalized_url(url: str) -> str | None:
    """Scheme, host, port and path, compared as RFC 9449 4.3 asks (RFC 3986 6.2.2-6.2.3); query and fragment dropped."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def current_nonce(now: float | None = None) -> str:
    """The server nonce for now (DPoP-Nonce header): stateless, an HMAC of the app secret over a time bucket."""
    return _nonce_for(int((time.time() if now is None else now) // NONCE_BUCKET_SECONDS))


def nonce_is_fresh(value: object, *, now: float | None = None) -> bool:
    """This bucket's nonce or the previous one's: a nonce lives 5 to 10 minutes."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    bucket = int((time.time() if now is None else now) // NONCE_BUCKET_SECONDS)
    return any(hmac.compare_digest(value, _nonce_for(b)) for b in (bucket, bucket - 1))


def _nonce_for(bucket: int) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return _b64(hmac.new(secret, f"dpop-nonce:{bucket}".encode(), hashlib.sha256).digest()[:18])


def _first_use(jti: str) -> bool:
    """Record the jti: Redis SET NX with an expiry when configured, else a row whose primary key refuses a twin."""
    digest = token_digest(jti)
    window = IAT_PAST_SECONDS + IAT_FUTURE_SECONDS
    index = current_app.extensions.get("idp_deny_list_index")  # the app's Redis connection, if any
    if index is not None:
        try:
            key = f"{current_app.config['REDIS_KEY_PREFIX']}:dpop:jti:{digest}"
            return bool(index.client.set(key, b"1", nx=True, ex=window))
        except redis.RedisError:
            log.warning("dpop: Redis unreachable; recording the proof's jti in the database")
    try:
        with db.session.begin_nested():
            db.session.add(UsedDpopProof(jti_digest=digest, expires_at=utcnow() + timedelta(seconds=window)))
    except IntegrityError:
        return False
    return True


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
