"""Encryption at rest for the few secrets the server must read back (signing keys, TOTP seeds).

AES-256-GCM with a key derived (HKDF-SHA256) from the app secret and a purpose label, so a key
for one purpose never opens another's data. The context (a key id, a user id) is bound as
associated data: a sealed value copied to another row does not open there.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"


@lru_cache(maxsize=16)
def _wrapping_key(secret: str, purpose: str) -> bytes:
    info = f"idp {purpose} wrap {_VERSION}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode("utf-8"))


def seal(plaintext: bytes, *, secret: str, purpose: str, context: str) -> str:
    nonce = os.urandom(12)
    ciphertext = AESGCM(_wrapping_key(secret, purpose)).encrypt(nonce, plaintext, context.encode("utf-8"))
    return f"{_VERSION}:" + base64.b64encode(nonce + ciphertext).decode("ascii")


def unseal(blob: str, *, secret: str, purpose: str, context: str) -> bytes:
    version, _, payload = blob.partition(":")
    if version != _VERSION:
        raise ValueError(f"unknown encryption version {version!r}")
    raw = base64.b64decode(payload)
    return AESGCM(_wrapping_key(secret, purpose)).decrypt(raw[:12], raw[12:], context.encode("utf-8"))
