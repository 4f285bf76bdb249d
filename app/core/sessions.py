"""Server-side sign-in sessions: create, load, touch and revoke ``UserSession`` rows.

The browser holds one random value in the auth cookie; its SHA-256 digest finds the row.
Revoking the row (sign-out, password reset, an admin) signs that browser out on its next request.
A session started with "keep me signed in" carries its own, longer limits (IDP_REMEMBER_*) on the row,
and its cookie persists until the absolute one (cookie_max_age); otherwise the cookie ends with the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app.core.audit import Origin
from app.core.backchannel_logout import queue_logouts
from app.extensions import db
from app.models import User, UserSession
from app.models.base import utcnow
from app.security import new_public_id, new_token, token_digest


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    touch_interval: timedelta

    @classmethod
    def from_config(cls, config) -> SessionPolicy:
        return cls(config["SESSION_IDLE_TIMEOUT"], config["SESSION_ABSOLUTE_TIMEOUT"], config["SESSION_TOUCH_INTERVAL"])


def start_session(user: User, *, origin: Origin, amr: list[str], keep_signed_in: bool = False) -> tuple[UserSession, str]:
    """Create a fresh session row and return it with the cookie value (shown to the browser only).

    keep_signed_in: the person ticked "Keep me signed in"; the row gets the longer IDP_REMEMBER_* limits.
    """
    cookie_value = new_token()
    now = utcnow()
    config = current_app.config
    user_session = UserSession(
        id=new_public_id(),
        token_digest=token_digest(cookie_value),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        auth_time=now,
        amr=list(amr),
        ip_address=origin.ip_address or "",
        user_agent=origin.user_agent or "",
    )
    if keep_signed_in:
        user_session.idle_seconds = int(config["REMEMBER_IDLE_TIMEOUT"].total_seconds())
        user_session.absolute_seconds = int(config["REMEMBER_ABSOLUTE_TIMEOUT"].total_seconds())
    db.session.add(user_session)
    return user_session, cookie_value


def cookie_max_age(user_session: UserSession, now: datetime | None = None) -> int | None:
    """Seconds the browser should keep the cookie: until a kept session's absolute end; None: the browser session."""
    if user_session.absolute_seconds is None:
        return None
    ends = user_session.created_at + timedelta(seconds=user_session.absolute_seconds)
    return max(int((ends - (now or utcnow())).total_seconds()), 0)


def find_active_session(cookie_value: str, policy: SessionPolicy, now: datetime | None = None) -> UserSession | None:
    """The live session this cookie names, or None when it is unknown, revoked, expired or its user disabled."""
    now = now or utcnow()
    user_session = db.session.scalar(select(UserSession).where(UserSession.token_digest == token_digest(cookie_value)))
    if user_session is None or not user_session.is_active(now, policy.idle, policy.absolute):
        return None
    if user_session.user.is_disabled:
        return None
    return user_session


def touch_session(user_session: UserSession, policy: SessionPolicy, now: datetime | None = None) -> bool:
    """Move last_seen forward at most once per touch interval, so browsing is not a write per request."""
    now = now or utcnow()
    if now - user_session.last_seen_at < policy.touch_interval:
        return False
    user_session.last_seen_at = now
    return True


def revoke_session(user_session: UserSession, *, reason: str = "session_ended") -> None:
    """End the session; apps signed in through it are told by back-channel logout (after the caller commits)."""
    if user_session.revoked_at is None:
        user_session.revoked_at = utcnow()
        queue_logouts([user_session.id], reason=reason)


def revoke_user_sessions(user: User, *, keep: UserSession | None = None, reason: str = "session_ended") -> int:
    """End every live session of the user (but ``keep``); returns how many ended. Apps are told, as above."""
    statement = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(UserSession.id)
        .execution_options(synchronize_session="fetch")
    )
    if keep is not None:
        statement = statement.where(UserSession.id != keep.id)
    ended = db.session.scalars(statement).all()
    queue_logouts(ended, reason=reason)
    return len(ended)
