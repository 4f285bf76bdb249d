"""Device Authorization Grant (RFC 8628): issuing device and user codes, the person's answer, and polling."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.core.audit import Origin, record_event
from app.extensions import db
from app.models import DeviceCode, DeviceCodeStatus, OAuthClient, User, UserSession
from app.models.base import utcnow
from app.security import new_token, token_digest

DEVICE_CODE_PREFIX = "dc_"
# RFC 8628 6.1: consonants only (no words, no 0/O or 1/I confusion), 20^8 ≈ 2^34.6 with throttled entry.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
MAX_USER_CODE_INPUT = 32
MAX_DEVICE_CODE_TTL = 600  # docs/security.md: at most 10 minutes
SLOW_DOWN_STEP = 5  # RFC 8628 3.5: seconds added to the interval on every slow_down
MAX_SCOPE_LENGTH = 1000
# Expired codes still answer expired_token for a while, then are deleted (which frees their user codes).
EXPIRED_KEPT_FOR = timedelta(hours=1)
_USER_CODE_ATTEMPTS = 5
_SEPARATORS = str.maketrans("", "", "- \t\r\n")


class PollOutcome(enum.StrEnum):
    """What one token request with a device code finds (RFC 8628 3.5)."""

    PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED = "expired_token"
    DENIED = "access_denied"
    APPROVED = "approved"
    REDEEMED = "redeemed"


@dataclass(frozen=True)
class IssuedDeviceCode:
    """The device authorization response's values; the device code exists only here and in the response."""

    device_code: str
    user_code: str  # as shown to the person: two groups of four letters joined by a dash
    expires_in: int
    interval: int


# --- user codes ---


def normalize_user_code(raw: str | None) -> str | None:
    """Upper-case, without dashes and spaces; None unless it could be a user code at all."""
    if not raw or len(raw) > MAX_USER_CODE_INPUT:
        return None
    code = raw.translate(_SEPARATORS).upper()
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def format_user_code(code: str) -> str:
    """The form people read and type: BCDF-GHJK."""
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


# --- the device authorization endpoint ---


def device_scope(client: OAuthClient, requested: str | None) -> str | None:
    """The scope to ask the person about: what was asked for, or the client's registered scope (RFC 6749 3.3).

    None when the client asked for a scope it is not registered for (invalid_scope).
    """
    allowed = client.scope.split()
    if requested is None or not requested.strip():
        return " ".join(allowed)
    if len(requested) > MAX_SCOPE_LENGTH:
        return None
    names = list(dict.fromkeys(requested.split()))
    if not set(names) <= set(allowed):
        return None
    return " ".join(names)


def start_device_authorization(client: OAuthClient, scope: str, resources: list[str]) -> IssuedDeviceCode:
    """Store a new pending request (device code as a digest only) and return what the device is told."""
    config = current_app.config
    ttl = min(config["DEVICE_CODE_TTL"], MAX_DEVICE_CODE_TTL)
    interval = config["DEVICE_CODE_INTERVAL"]
    now = utcnow()
    prune_device_codes(now)
    device_code = new_token(DEVICE_CODE_PREFIX)
    for _ in range(_USER_CODE_ATTEMPTS):
        row = DeviceCode(
            device_code_digest=token_digest(device_code),
            user_code=new_user_code(),
            client_id=client.id,
            scope=scope,
            resources=resources,  # RFC 8707, checked by the endpoint
            interval=interval,
            status=DeviceCodeStatus.PENDING,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        try:
            # A user code still held by a live request hits the unique constraint: draw another.
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            continue
        return IssuedDeviceCode(device_code, format_user_code(row.user_code), ttl, interval)
    raise RuntimeError("could not draw an unused user code")


def prune_device_codes(now: datetime | None = None) -> int:
    """Delete requests that expired more than EXPIRED_KEPT_FOR ago."""
    cutoff = (now or utcnow()) - EXPIRED_KEPT_FOR
    return db.session.execute(delete(DeviceCode).where(DeviceCode.expires_at < cutoff)).rowcount


# --- the verification page ---


def find_pending_by_user_code(raw: str | None, now: datetime | None = None) -> DeviceCode | None:
    """The live, undecided request for a typed code (any case, with or without dash or spaces), else None."""
    code = normalize_user_code(raw)
    if code is None:
        return None
    return db.session.scalar(
        select(DeviceCode)
        .join(OAuthClient, DeviceCode.client_id == OAuthClient.id)
        .where(
            DeviceCode.user_code == code,
            DeviceCode.status == DeviceCodeStatus.PENDING,
            DeviceCode.expires_at > (now or utcnow()),
            OAuthClient.is_disabled.is_(False),
        )
    )


def _decide(row: DeviceCode, status: DeviceCodeStatus, user: User, user_session: UserSession) -> bool:
    """Record the person's answer with one conditional UPDATE: only a live, undecided request changes."""
    values: dict[str, object] = {"status": status, "user_id": user.id, "session_id": user_session.id}
    if status is DeviceCodeStatus.APPROVED:
        values.update(auth_time=user_session.auth_time, amr=list(user_session.amr))
    result = db.session.execute(
        update(DeviceCode)
        .where(
            DeviceCode.id == row.id,
            DeviceCode.status == DeviceCodeStatus.PENDING,
            DeviceCode.expires_at > utcnow(),
        )
        .values(**values)
    )
    return result.rowcount == 1


def approve_device_code(row: DeviceCode, user: User, user_session: UserSession, *, origin: Origin) -> bool:
    """The person allowed the device: it will receive tokens for them on its next poll."""
    if not _decide(row, DeviceCodeStatus.APPROVED, user, user_session):
        return False
    record_event("oauth.device_approved", origin=origin, subject=user, client_id=row.client.client_id, scope=row.scope)
    return True


def deny_device_code(row: DeviceCode, user: User, user_session: UserSession, *, origin: Origin) -> bool:
    """The person refused: the device's next poll gets access_denied."""
    if not _decide(row, DeviceCodeStatus.DENIED, user, user_session):
        return False
    record_event("oauth.device_denied", origin=origin, subject=user, client_id=row.client.client_id, scope=row.scope)
    return True


def record_entry_failed(user: User, *, origin: Origin) -> None:
    """A typed code matched no live request; repeated failures show up beside the rate limit."""
    record_event("oauth.device_entry_failed", origin=origin, subject=user)


# --- the token endpoint ---


def find_device_code(value: str | None) -> DeviceCode | None:
    if not value or len(value) > 128 or not value.startswith(DEVICE_CODE_PREFIX):
        return None
    return db.session.scalar(select(DeviceCode).where(DeviceCode.device_code_digest == token_digest(value)))


def poll_device_code(row: DeviceCode, now: datetime | None = None) -> PollOutcome:
    """One poll: a used, expired, denied or approved request answers at once; a pending one enforces the interval."""
    now = now or utcnow()
    if row.status is DeviceCodeStatus.REDEEMED:
        return PollOutcome.REDEEMED
    if now >= row.expires_at:
        return PollOutcome.EXPIRED
    if row.status is DeviceCodeStatus.DENIED:
        return PollOutcome.DENIED
    if row.status is DeviceCodeStatus.APPROVED:
        return PollOutcome.APPROVED
    if _record_poll(row, now):
        return PollOutcome.PENDING
    # RFC 8628 3.5: too fast; the interval grows by 5 s for this and every later request.
    db.session.execute(
        update(DeviceCode)
        .where(DeviceCode.id == row.id)
        .values(interval=DeviceCode.interval + SLOW_DOWN_STEP, last_polled_at=now)
    )
    return PollOutcome.SLOW_DOWN


def _record_poll(row: DeviceCode, now: datetime) -> bool:
    """True when the interval has passed; compare-and-set, so of parallel polls at most one passes."""
    previous = row.last_polled_at
    if previous is not None and now - previous < timedelta(seconds=row.interval):
        return False
    seen = DeviceCode.last_polled_at.is_(None) if previous is None else DeviceCode.last_polled_at == previous
    result = db.session.execute(update(DeviceCode).where(DeviceCode.id == row.id, seen).values(last_polled_at=now))
    return result.rowcount == 1


def redeem_device_code(row: DeviceCode) -> bool:
    """Mark an approved request used with one conditional UPDATE: of N parallel polls exactly one gets tokens.

    Authlib's DeviceCodeGrant never consumes the code: it leaves that to the app, and this is what does.
    """
    result = db.session.execute(
        update(DeviceCode)
        .where(DeviceCode.id == row.id, DeviceCode.status == DeviceCodeStatus.APPROVED)
        .values(status=DeviceCodeStatus.REDEEMED)
    )
    return result.rowcount == 1
