"""Signing keys: created, encrypted at rest, loaded once per process, rotated, published as JWKS."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from blinker import Namespace
from flask import current_app
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from app.core.crypto import seal, unseal
from app.core.db_locks import KEYS_LOCK, lock_transaction
from app.core.durations import describe_age
from app.extensions import db
from app.models import SigningKey
from app.models.base import utcnow
from app.security import new_public_id

ALGORITHMS = ("RS256", "ES256")
# Sent (with the app) when this process's view of the keys changed; the public-response cache listens.
keys_changed = Namespace().signal("idp-keys-changed")


def encrypt_private_key(pem: bytes, secret: str, kid: str) -> str:
    return seal(pem, secret=secret, purpose="signing-key", context=kid)


def decrypt_private_key(blob: str, secret: str, kid: str) -> bytes:
    return unseal(blob, secret=secret, purpose="signing-key", context=kid)


def create_signing_key(algorithm: str) -> SigningKey:
    """A new active key of that algorithm; the caller commits (and retires the old one when rotating)."""
    key = RSAKey.generate_key(2048) if algorithm == "RS256" else ECKey.generate_key("P-256")
    kid = new_public_id()
    public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": algorithm}
    row = SigningKey(
        kid=kid,
        algorithm=algorithm,
        public_jwk=public,
        private_key_encrypted=encrypt_private_key(key.as_pem(private=True), current_app.config["SECRET_KEY"], kid),
    )
    db.session.add(row)
    return row


def rotate_keys(algorithms: tuple[str, ...] = ALGORITHMS) -> list[SigningKey]:
    """Retire the active keys of these algorithms and make new ones. Retired keys stay published.

    The new keys are published at once and sign after KEY_ACTIVATION_SECONDS; the retired ones sign
    until then (see _may_sign), so no app meets a token whose key it can't fetch yet. Two rotations at once
    queue on an advisory lock, so they never leave two active keys of one algorithm.
    """
    lock_transaction(KEYS_LOCK)
    now = utcnow()
    for row in db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        if row.algorithm in algorithms:
            row.retired_at = now
    created = [create_signing_key(alg) for alg in algorithms]
    keyring().invalidate()
    return created


@dataclass(frozen=True)
class ScheduledRotation:
    """What `rotate_keys_older_than` found for one algorithm, and the key it made (None: nothing to do)."""

    algorithm: str
    previous: SigningKey | None
    age: timedelta | None
    created: SigningKey | None

    def describe(self) -> str:
        if self.previous is None:
            return f"no active {self.algorithm} key: created {self.created.kid}"
        if self.created is None:
            return f"active {self.algorithm} key {self.previous.kid} is {describe_age(self.age)} old; nothing to do"
        return f"rotated {self.algorithm} key {self.previous.kid} ({describe_age(self.age)} old): new key {self.created.kid}"


def rotate_keys_older_than(max_age: timedelta) -> list[ScheduledRotation]:
    """Rotate each algorithm whose active key is older than max_age (or that has none); the caller commits.

    For a schedule (cron, a CronJob): run often, it rotates once per max_age. Deciding and rotating happen
    under one transaction's advisory lock, so two runs at once rotate once.
    """
    lock_transaction(KEYS_LOCK)
    now = utcnow()
    active = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at)
    previous = {row.algorithm: row for row in db.session.scalars(active)}  # the newest active key wins
    ages = {algorithm: now - row.created_at for algorithm, row in previous.items()}
    due = tuple(algorithm for algorithm in ALGORITHMS if algorithm not in ages or ages[algorithm] > max_age)
    created = {row.algorithm: row for row in rotate_keys(due)} if due else {}
    return [ScheduledRotation(alg, previous.get(alg), ages.get(alg), created.get(alg)) for alg in ALGORITHMS]


def ensure_keys() -> list[SigningKey]:
    """Create an active key for each algorithm that has none (run once at start, before workers).

    Under the keys' advisory lock: replicas starting together make one key per algorithm, not one each.
    """
    lock_transaction(KEYS_LOCK)
    active = set(db.session.scalars(select(SigningKey.algorithm).where(SigningKey.retired_at.is_(None))))
    return [create_signing_key(algorithm) for algorithm in ALGORITHMS if algorithm not in active]


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    algorithm: str
    key: RSAKey | ECKey
    created_at: datetime


class KeyRing:
    """Per-process cache of parsed keys and the serialised JWKS, reloaded after a short TTL.

    Parsing keys and decrypting them costs far more than a signature, so it happens once per
    process and TTL; rotation elsewhere (CLI, another worker) is picked up within the TTL.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._signing: dict[str, LoadedKey] = {}
        self._verifying: dict[str, LoadedKey] = {}
        self._jwks_json = b'{"keys":[]}'

    def invalidate(self) -> None:
        self._loaded_at = 0.0
        keys_changed.send(current_app._get_current_object())  # the JWKS this process serves from memory, too

    def _fresh(self) -> bool:
        return time.monotonic() - self._loaded_at < current_app.config["KEY_CACHE_SECONDS"]

    def _ensure_loaded(self) -> None:
        if self._fresh():
            return
        with self._lock:
            if not self._fresh():
                self._load()

    def _load(self) -> None:
        config = current_app.config
        rows = list(db.session.scalars(select(SigningKey).order_by(SigningKey.created_at)))
        if not any(r.retired_at is None and r.algorithm == alg for alg in ALGORITHMS for r in rows):
            rows = self._create_missing(rows)
        now = utcnow()
        # Retired keys stay published while any token they signed can still be valid.
        publish_after = now - timedelta(seconds=config["KEY_RETENTION_SECONDS"])
        activation = timedelta(seconds=config["KEY_ACTIVATION_SECONDS"])
        signing: dict[str, LoadedKey] = {}
        newest_active: dict[str, LoadedKey] = {}
        verifying: dict[str, LoadedKey] = {}
        for row in rows:
            if row.retired_at is not None and row.retired_at < publish_after:
                continue
            pem = decrypt_private_key(row.private_key_encrypted, config["SECRET_KEY"], row.kid)
            key_cls = RSAKey if row.algorithm == "RS256" else ECKey
            loaded = LoadedKey(row.kid, row.algorithm, key_cls.import_key(pem, {"kid": row.kid}), row.created_at)
            verifying[row.kid] = loaded
            if row.retired_at is None:
                newest_active[row.algorithm] = loaded  # rows are ordered by age: the newest wins
            if _may_sign(row, now, activation):
                signing[row.algorithm] = loaded
        # A first start has nothing published before: its new keys sign at once.
        self._signing = {**newest_active, **signing}
        self._verifying = verifying
        public = [row.public_jwk for row in rows if row.kid in verifying]
        self._jwks_json = json.dumps({"keys": public}, separators=(",", ":")).encode("utf-8")
        self._loaded_at = time.monotonic()

    def _create_missing(self, rows: list[SigningKey]) -> list[SigningKey]:
        present = {r.algorithm for r in rows if r.retired_at is None}
        for algorithm in ALGORITHMS:
            if algorithm not in present:
                rows.append(create_signing_key(algorithm))
        db.session.commit()
        return sorted(rows, key=lambda r: r.created_at)

    def signing_key(self, algorithm: str) -> LoadedKey:
        self._ensure_loaded()
        return self._signing[algorithm]

    def verifying_key(self, kid: str) -> LoadedKey | None:
        self._ensure_loaded()
        return self._verifying.get(kid)

    def jwks_json(self) -> bytes:
        self._ensure_loaded()
        return self._jwks_json


def _may_sign(row: SigningKey, now: datetime, activation: timedelta) -> bool:
    """Publish before use: a key signs once it has been in the JWKS for the activation time, and a
    rotated-out key goes on signing until then, because its successor only starts then."""
    published_long_enough = row.created_at <= now - activation
    successor_not_yet_signing = row.retired_at is None or row.retired_at > now - activation
    return published_long_enough and successor_not_yet_signing


def keyring() -> KeyRing:
    """This app's key ring (one per app, so test apps with separate databases never share keys)."""
    return current_app.extensions.setdefault("idp_keyring", KeyRing())
