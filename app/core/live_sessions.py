"""The person's own sign-in sessions: list them with a readable device, end one, or end all the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import ua_parser
from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from app.core.audit import Origin, record_event
from app.core.revocation import revoke_user_tokens
from app.core.sessions import SessionPolicy, revoke_session, revoke_user_sessions
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User, UserSession
from app.models.base import utcnow

# Lazy: read in the language of whoever sees them (compare them as text; str() for string operations).
UNKNOWN_BROWSER = lazy_gettext("Unknown browser")
UNKNOWN_SYSTEM = lazy_gettext("Unknown system")


@dataclass(frozen=True)
class Device:
    """What a user agent string says, in words a person recognises ("Firefox 128", "Windows 10")."""

    browser: str
    system: str

    @property
    def label(self) -> str:
        """ "Firefox 128 on Linux", in the reader's language."""
        return gettext("%(browser)s on %(system)s", browser=self.browser, system=self.system)


@dataclass(frozen=True)
class ActiveSession:
    row: UserSession
    device: Device
    is_current: bool
    idle_limit: timedelta
    ends_at: datetime  # the absolute limit: signed out then at the latest


def describe_device(user_agent: str) -> Device:
    """Browser and operating system from the user agent, by ua-parser's maintained regexes (uap-core)."""
    if not user_agent:
        return Device(UNKNOWN_BROWSER, UNKNOWN_SYSTEM)
    # Only the two domains shown: the device domain has the most patterns and would cost the most.
    parsed = ua_parser.parser(user_agent, ua_parser.Domain.USER_AGENT | ua_parser.Domain.OS)
    browser = _named(parsed.user_agent.family, parsed.user_agent.major) if parsed.user_agent else UNKNOWN_BROWSER
    system = UNKNOWN_SYSTEM
    if parsed.os:
        version = ".".join(part for part in (parsed.os.major, parsed.os.minor) if part)
        system = _named(parsed.os.family, version)
    return Device(browser, system)


def _named(family: str, version: str | None) -> str:
    return f"{family} {version}" if version else family


def _policy() -> SessionPolicy:
    return SessionPolicy.from_config(current_app.config)


def _live_sessions(user: User, now: datetime) -> list[UserSession]:
    """Signed-in sessions only: a pending one (second factor still owed) is not signed in anywhere."""
    policy = _policy()
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None), UserSession.pending.is_(None))
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
    )
    return [row for row in rows if row.is_active(now, policy.idle, policy.absolute)]


def active_sessions(user: User, *, current: UserSession, now: datetime | None = None) -> list[ActiveSession]:
    """Every live session of the person, this browser's first."""
    rows = _live_sessions(user, now or utcnow())
    policy = _policy()
    listed = [_listed(row, row.id == current.id, *row.limits(policy.idle, policy.absolute)) for row in rows]
    return sorted(listed, key=lambda entry: not entry.is_current)  # stable: the rest stay most recent first


def _listed(row: UserSession, is_current: bool, idle: timedelta, absolute: timedelta) -> ActiveSession:
    return ActiveSession(row, describe_device(row.user_agent), is_current, idle, row.created_at + absolute)


def find_own_session(user: User, session_id: str, now: datetime | None = None) -> UserSession | None:
    """The person's live session with this public id; None for anyone else's, an unknown or an ended one."""
    # Visible ASCII of a sane length only: anything else matches no row (and a NUL byte breaks PostgreSQL).
    if not 0 < len(session_id) <= 32 or not (session_id.isascii() and session_id.isprintable()):
        return None
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id or row.pending is not None:
        return None
    policy = _policy()
    return row if row.is_active(now or utcnow(), policy.idle, policy.absolute) else None


def end_session(user: User, user_session: UserSession, *, current: UserSession, origin: Origin, **details: object) -> int:
    """Sign that browser out and revoke the refresh tokens issued in it; returns how many families died.

    `details` go into the audit event (e.g. why it ended, when the person did not end it themselves)."""
    revoke_session(user_session, reason=str(details.get("reason", "ended_by_person")))
    # Tokens an app got through that browser go with it: ending a session you don't trust must
    # not leave whoever held it a way back in through a connected app.
    families = revoke_user_tokens(user, session_id=user_session.id)
    record_event(
        "account.session_ended",
        origin=origin,
        subject=user,
        session_id=user_session.id,
        current=user_session.id == current.id,
        app_grants_ended=families,
        **details,
    )
    return families


def end_sessions_over_limit(user: User, *, current: UserSession, origin: Origin) -> list[Device]:
    """A sign-in that takes the person past IDP_MAX_SESSIONS_PER_USER ends their oldest other sessions.

    Each ends as on the sessions page (its app tokens too, audited with reason "session_limit"). Returns the
    devices of those that ended, oldest first, so the person can be told; [] when there is no limit.
    """
    limit = current_app.config["MAX_SESSIONS_PER_USER"]
    if limit < 1:
        return []
    others = sorted((row for row in _live_sessions(user, utcnow()) if row.id != current.id), key=lambda row: row.created_at)
    oldest = others[: max(len(others) + 1 - limit, 0)]
    for row in oldest:
        end_session(user, row, current=current, origin=origin, reason="session_limit", limit=limit)
    return [describe_device(row.user_agent) for row in oldest]


def end_other_sessions(user: User, *, current: UserSession, origin: Origin) -> int:
    """End every live session but this browser's; returns how many ended."""
    others = [row for row in _live_sessions(user, utcnow()) if row.id != current.id]
    for row in others:
        end_session(user, row, current=current, origin=origin)
    # Half-open ones too: a password typed in another browser must not stay at the second-factor step.
    revoke_user_sessions(user, keep=current, reason="ended_by_person")
    return len(others)
