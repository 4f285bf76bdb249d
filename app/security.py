"""Hashing, random tokens, digests and constant-time comparison: the only place secrets are made."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from flask import current_app
from passlib.context import CryptContext

# 128 bits or more everywhere (docs/security.md "Secrets"); 32 bytes leaves headroom.
TOKEN_BYTES = 32


def new_token(prefix: str = "") -> str:
    """A URL-safe random token; the prefix names its type so a leaked one is recognisable."""
    return f"{prefix}{secrets.token_urlsafe(TOKEN_BYTES)}"


def new_public_id() -> str:
    """A 128-bit random identifier that is safe to show (it grants nothing by itself)."""
    return secrets.token_urlsafe(16)


def token_digest(token: str) -> str:
    """SHA-256 hex digest: high-entropy tokens need no salt or slow hash to be safe at rest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@lru_cache(maxsize=8)
def _password_context(memory_kib: int, time_cost: int) -> CryptContext:
    # argon2id only: bcrypt would truncate at 72 bytes, and we have no legacy hashes to import.
    return CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__time_cost=time_cost,
        argon2__parallelism=1,
    )


def password_context() -> CryptContext:
    config = current_app.config
    return _password_context(config["ARGON2_MEMORY_KIB"], config["ARGON2_TIME_COST"])


def hash_password(password: str) -> str:
    return password_context().hash(password)


@lru_cache(maxsize=8)
def _dummy_hash(memory_kib: int, time_cost: int) -> str:
    return _password_context(memory_kib, time_cost).hash(secrets.token_urlsafe(24))


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check a password; returns (ok, new_hash) where new_hash is set when parameters changed.

    With no hash (unknown account) a dummy hash is verified so the answer takes the same time.
    """
    context = password_context()
    if password_hash is None:
        config = current_app.config
        context.verify(password, _dummy_hash(config["ARGON2_MEMORY_KIB"], config["ARGON2_TIME_COST"]))
        return False, None
    try:
        return context.verify_and_update(password, password_hash)
    except ValueError:
        # A malformed stored hash must not become a 500 on the sign-in page.
        return False, None
