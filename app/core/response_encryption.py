"""Encrypted ID tokens and signed or encrypted UserInfo answers, per client (OIDC Core 10.2, OIDC Registration 2).

The client's public encryption key comes from its inline ``jwks`` only: ``jwks_uri`` is never fetched
(no outbound requests), so a client that asks for encryption must register the key itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from authlib.oauth2 import OAuth2Error
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from app.models import OAuthClient

ENCRYPTION_ALGS = ("RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A256KW")
ENCRYPTION_ENCS = ("A128CBC-HS256", "A256GCM")
DEFAULT_ENC = "A128CBC-HS256"  # OIDC Registration 2: the enc when only the alg is registered
USERINFO_SIGNING_ALGS = ("RS256",)
ID_TOKEN_ALG, ID_TOKEN_ENC = "id_token_encrypted_response_alg", "id_token_encrypted_response_enc"
USERINFO_SIGNED = "userinfo_signed_response_alg"
USERINFO_ALG, USERINFO_ENC = "userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc"
# Metadata names and OAuthClient column names are the same.
FIELDS = (ID_TOKEN_ALG, ID_TOKEN_ENC, USERINFO_SIGNED, USERINFO_ALG, USERINFO_ENC)
_PAIRS = ((ID_TOKEN_ALG, ID_TOKEN_ENC), (USERINFO_ALG, USERINFO_ENC))
_EC_KEYS = {("EC", "P-256"), ("EC", "P-384"), ("EC", "P-521"), ("OKP", "X25519")}
_KEY_TYPES = {"RSA-OAEP-256": {("RSA", None)}, "ECDH-ES": _EC_KEYS, "ECDH-ES+A256KW": _EC_KEYS}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MIN_RSA_BITS = 2048
MAX_KEYS = 10


class EncryptionSettingsError(ValueError):
    """The registered encryption settings or keys are refused (invalid_client_metadata)."""


class MissingEncryptionKey(OAuth2Error):
    """The client asks for encryption but its jwks no longer hold a fitting key: fail closed, never send plain."""

    error = "invalid_client"
    description = "The client's registered jwks hold no key for the encryption it registered."


def settings_from(values: Mapping) -> dict[str, str | None]:
    """The five settings from metadata, checked against what we support; enc defaults per OIDC Registration 2."""
    settings: dict[str, str | None] = {}
    for name in FIELDS:
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            raise EncryptionSettingsError(f"{name} must be a string.")
        settings[name] = value
    if settings[USERINFO_SIGNED] not in (None, *USERINFO_SIGNING_ALGS):
        raise EncryptionSettingsError(f"{USERINFO_SIGNED} can only be {' or '.join(USERINFO_SIGNING_ALGS)}.")
    for alg_name, enc_name in _PAIRS:
        alg, enc = settings[alg_name], settings[enc_name]
        if alg is None and enc is not None:
            raise EncryptionSettingsError(f"{enc_name} needs {alg_name}.")
        if alg is not None and alg not in ENCRYPTION_ALGS:
            raise EncryptionSettingsError(f"{alg_name} must be one of {', '.join(ENCRYPTION_ALGS)}.")
        if enc is not None and enc not in ENCRYPTION_ENCS:
            raise EncryptionSettingsError(f"{enc_name} must be one of {', '.join(ENCRYPTION_ENCS)}.")
        if alg is not None and enc is None:
            settings[enc_name] = DEFAULT_ENC
    return settings


def asks_for_encryption(settings: Mapping) -> bool:
    return any(settings.get(alg_name) for alg_name, _ in _PAIRS)


def check_encryption_keys(settings: Mapping, jwks: object) -> None:
    """Every registered encryption alg needs a public key of its type in the inline jwks."""
    if not asks_for_encryption(settings):
        return
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or len(keys) > MAX_KEYS:
        raise EncryptionSettingsError(f"encryption needs inline jwks with 1 to {MAX_KEYS} public keys (jwks_uri is not fetched).")
    if any(isinstance(key, dict) and any(member in key for member in PRIVATE_MEMBERS) for key in keys):
        raise EncryptionSettingsError("jwks must not contain private key material.")
    for alg_name, _ in _PAIRS:
        alg = settings.get(alg_name)
        if alg and encryption_key(jwks, alg) is None:
            raise EncryptionSettingsError(f"{alg_name} {alg} needs a public encryption key of its type in jwks.")


def encryption_key(jwks: object, alg: str):
    """The first key fitting alg: use "enc" or none, the right kty and curve, public only; None if none fits."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    for data in keys if isinstance(keys, list) else []:
        if not isinstance(data, dict) or data.get("use", "enc") != "enc" or data.get("alg", alg) != alg:
            continue
        if (data.get("kty"), data.get("crv")) not in _KEY_TYPES[alg] or any(m in data for m in PRIVATE_MEMBERS):
            continue
        try:
            key = import_key(data)
        except (JoseError, ValueError, TypeError):
            continue
        if data["kty"] == "RSA" and key.raw_value.key_size < _MIN_RSA_BITS:
            continue
        return key
    return None


def encrypt_for(client: OAuthClient, payload: bytes, *, alg: str, enc: str | None, nested: bool) -> str:
    """A compact JWE for the client's key; cty JWT when the payload is a signed JWT (OIDC Core 16.14)."""
    key = encryption_key(client.jwks, alg)
    if key is None:
        raise MissingEncryptionKey()
    header = {"alg": alg, "enc": enc or DEFAULT_ENC}
    if key.kid:
        header["kid"] = key.kid
    if nested:
        header["cty"] = "JWT"
    return jwe.encrypt_compact(header, payload, key, algorithms=[alg, header["enc"]])


def require_id_token_key(client: OAuthClient) -> None:
    """Refuse before any token is written when the ID token could not be encrypted (issuance checks first)."""
    alg = getattr(client, ID_TOKEN_ALG, None)
    if alg and encryption_key(client.jwks, alg) is None:
        raise MissingEncryptionKey()


def encrypt_id_token(client: OAuthClient, signed: str) -> str:
    """The signed ID token, encrypted when the client registered id_token_encrypted_response_alg."""
    alg = getattr(client, ID_TOKEN_ALG, None)
    if not alg:
        return signed
    return encrypt_for(client, signed.encode("ascii"), alg=alg, enc=getattr(client, ID_TOKEN_ENC, None), nested=True)
