"""Changing the password of a signed-in person; every other session and its apps' tokens end. No request objects here."""

from __future__ import annotations

from sqlalchemy import or_, select, update

from app.core.accounts import check_new_password
from app.core.audit import Origin, record_event
from app.core.lockout import record_failed_attempt
from app.core.password_policy import normalize_password
from app.core.revocation import revoke_refresh_family
from app.core.sessions import revoke_user_sessions
from app.core.trusted_browsers import forget_trusted_browsers
from app.extensions import db
from app.models import DeviceCode, DeviceCodeStatus, RefreshToken, User, UserSession
from app.models.base import utcnow
from app.security import hash_password, verify_password


class CurrentPasswordRefused(ValueError):
    """The current password was wrong (counted toward the lockout), or the account is locked for now."""

    def __init__(self, *, locked: bool) -> None:
        super().__init__("locked" if locked else "wrong current password")
        self.locked = locked


def needs_current_password(user_session: UserSession) -> bool:
    """A session signed in with the password must give it again; one from a passkey shows a fresh factor instead.

    fresh_auth_required has already made the factor recent, so a passkey session ("mfa" in amr, no "pwd")
    has proven itself; any other shape falls back to the password. An account without a password (made
    at a social sign-in) sets its first one on the strength of that fresh sign-in.
    """
    if not user_session.user.password_hash:
        return False
    return "pwd" in user_session.amr or "mfa" not in user_session.amr


def change_password(user: User, user_session: UserSession, *, current: str | None, new: str, origin: Origin) -> dict[str, int]:
    """Set a new password and end every other session with its tokens; returns what ended, for the audit.

    Raises CurrentPasswordRefused (the caller commits: the failure stays counted) or PasswordRejected.
    """
    if needs_current_password(user_session):
        _check_current(user, current or "", origin)
    normalized = check_new_password(new, email=user.email, user=user)
    user.password_hash = hash_password(normalized)
    ended = revoke_user_sessions(user, keep=user_session, reason="password_changed")
    revoked = _revoke_tokens_outside(user, user_session)
    forget_trusted_browsers(user, origin=origin, reason="password_changed")  # whoever knew the old one trusted none
    record_event(
        "account.password_changed",
        origin=origin,
        subject=user,
        session_id=user_session.id,
        sessions_ended=ended,
        app_grants_ended=revoked,
    )
    return {"sessions_ended": ended, "app_grants_ended": revoked}


def _check_current(user: User, current: str, origin: Origin) -> None:
    now = utcnow()
    if user.is_locked(now):
        # Like the sign-in page: no guesses are checked while the lock lasts, and they don't extend it.
        record_failed_attempt(user, now, origin, "locked")
        raise CurrentPasswordRefused(locked=True)
    ok, _new_hash = verify_password(normalize_password(current), user.password_hash)
    if not ok:
        record_failed_attempt(user, now, origin, "password")
        raise CurrentPasswordRefused(locked=user.is_locked(now))


def _revoke_tokens_outside(user: User, keep: UserSession) -> int:
    """Revoke refresh families not issued in the kept session, and deny devices approved elsewhere.

    Not only those of the sessions ended just now: a family outlives its session (sign-out keeps it),
    and a password change means the old password may be known to someone else.
    """
    elsewhere = or_(RefreshToken.session_id.is_(None), RefreshToken.session_id != keep.id)
    families = list(
        db.session.scalars(
            select(RefreshToken.family_id)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None), elsewhere)
            .distinct()
        )
    )
    for family_id in families:
        revoke_refresh_family(family_id)
    db.session.execute(
        update(DeviceCode)
        .where(
            DeviceCode.user_id == user.id,
            DeviceCode.status == DeviceCodeStatus.APPROVED,
            or_(DeviceCode.session_id.is_(None), DeviceCode.session_id != keep.id),
        )
        .values(status=DeviceCodeStatus.DENIED)
    )
    return len(families)
