"""Failed sign-in proofs and the lockout they lead to (NIST SP 800-63B 3.2.2: throttle, never lock for good)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from app.core.audit import Origin, record_event
from app.extensions import db
from app.metrics import LOCKOUTS, count
from app.models import User

# A wrong password or a wrong second factor both count; a disabled or already locked account does not
# extend its own lock.
LOCKING_REASONS = {"password", "mfa"}


def lock_delay(failures: int) -> timedelta | None:
    """Back-off after the threshold: base, then doubling, capped (NIST 3.2.2: no permanent lock)."""
    config = current_app.config
    over = failures - config["LOCKOUT_THRESHOLD"]
    if over < 0:
        return None
    seconds = min(config["LOCKOUT_BASE_SECONDS"] * (2 ** min(over, 20)), config["LOCKOUT_MAX_SECONDS"])
    return timedelta(seconds=seconds)


def record_failed_attempt(user: User, now: datetime, origin: Origin, reason: str, **details: object) -> None:
    """Count a failed proof (password or second factor) toward the lockout, and audit it."""
    # One atomic increment: parallel guesses cannot slip past the counter.
    failures = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_login_count=User.failed_login_count + 1)
        .returning(User.failed_login_count)
    ).scalar_one()
    record_event("auth.login_failed", origin=origin, subject=user, reason=reason, **details)
    delay = lock_delay(failures)
    if delay is not None and reason in LOCKING_REASONS:
        db.session.execute(update(User).where(User.id == user.id).values(locked_until=now + delay))
        count(LOCKOUTS, reason=reason)
        record_event("auth.locked", origin=origin, subject=user, seconds=int(delay.total_seconds()), failures=failures)
    db.session.refresh(user)
