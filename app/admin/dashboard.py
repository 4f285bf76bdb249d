"""The console's front page: headline counts and sign-ins per day, and the sessions and keys pages' queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext
from sqlalchemy import Date, cast, func, select

from app.admin.audit_log import day_start
from app.core.audit import Origin, record_event
from app.core.keys import rotate_keys
from app.core.live_sessions import Device, describe_device
from app.core.paging import Page, page_offset
from app.core.revocation import revoke_user_tokens
from app.core.sessions import SessionPolicy, revoke_session
from app.extensions import db
from app.models import AuditEvent, ClientCredentialsUsage, OAuthClient, SigningKey, User, UserSession
from app.models.base import utcnow

CHART_DAYS = 30
SESSIONS_PAGE_SIZE = 50


@dataclass(frozen=True)
class Counts:
    users: int
    active_sessions: int
    clients: int
    tokens_today: int


@dataclass(frozen=True)
class DailySeries:
    label: str
    event_type: str
    values: list[int]  # one per day of the window, oldest first


def _live_sessions_clause(policy: SessionPolicy, now: datetime):
    """Signed in (not pending), not revoked, within the idle and the absolute timeout: UserSession.is_active in SQL."""
    return (
        UserSession.revoked_at.is_(None),
        UserSession.pending.is_(None),
        UserSession.last_seen_at > now - policy.idle,
        UserSession.created_at > now - policy.absolute,
    )


def headline_counts(policy: SessionPolicy, now: datetime | None = None) -> Counts:
    now = now or utcnow()
    midnight = day_start(now.date())
    # User tokens are audited one by one; machine (client-credentials) tokens only as per-minute counters.
    user_tokens = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event_type == "oauth.token_issued", AuditEvent.created_at >= midnight)
    )
    machine_tokens = db.session.scalar(
        select(func.coalesce(func.sum(ClientCredentialsUsage.count), 0)).where(ClientCredentialsUsage.minute >= midnight)
    )
    return Counts(
        users=db.session.scalar(select(func.count()).select_from(User)),
        active_sessions=db.session.scalar(
            select(func.count()).select_from(UserSession).where(*_live_sessions_clause(policy, now))
        ),
        clients=db.session.scalar(select(func.count()).select_from(OAuthClient)),
        tokens_today=user_tokens + int(machine_tokens),
    )


def chart_days(today: date, days: int = CHART_DAYS) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def _day_of(column):
    """The UTC calendar day of a timestamp column (stored as naive UTC), in this database's dialect."""
    if db.engine.dialect.name == "sqlite":
        return func.date(column)  # 'YYYY-MM-DD' text
    return cast(column, Date)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def daily_counts(event_type: str, days: list[date]) -> list[int]:
    """How many events of this type fell on each day: one GROUP BY over the window."""
    day = _day_of(AuditEvent.created_at).label("day")
    query = (
        select(day, func.count())
        .where(
            AuditEvent.event_type == event_type,
            AuditEvent.created_at >= day_start(days[0]),
            AuditEvent.created_at < day_start(days[-1] + timedelta(days=1)),
        )
        .group_by(day)
    )
    by_day = {_as_date(value): count for value, count in db.session.execute(query)}
    return [by_day.get(d, 0) for d in days]


def sign_in_series(days: list[date]) -> list[DailySeries]:
    return [
        DailySeries(gettext("Sign-ins"), "auth.login", daily_counts("auth.login", days)),
        DailySeries(gettext("Failed sign-ins"), "auth.login_failed", daily_counts("auth.login_failed", days)),
    ]


def today_utc() -> date:
    return datetime.now(UTC).date()


# Sessions page


@dataclass(frozen=True)
class SessionEntry:
    row: UserSession
    device: Device


def live_sessions_page(policy: SessionPolicy, page: int, email: str | None = None) -> Page[SessionEntry] | None:
    """Everyone's signed-in sessions, most recently seen first; None when there is no such page."""
    query = select(UserSession).join(User, UserSession.user_id == User.id).where(*_live_sessions_clause(policy, utcnow()))
    if email:
        query = query.where(func.lower(User.email) == email.lower())
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    offset = page_offset(total, page, SESSIONS_PAGE_SIZE)
    if offset is None:
        return None
    rows = db.session.scalars(
        query.order_by(UserSession.last_seen_at.desc(), UserSession.id).offset(offset).limit(SESSIONS_PAGE_SIZE)
    )
    entries = [SessionEntry(row, describe_device(row.user_agent)) for row in rows]
    return Page(entries, page, SESSIONS_PAGE_SIZE, total)


def find_live_session(session_id: str, policy: SessionPolicy) -> UserSession | None:
    """A signed-in session by its public id; None for an unknown, ended or half-open one."""
    if not 0 < len(session_id) <= 32 or not (session_id.isascii() and session_id.isprintable()):
        return None  # a NUL byte or a huge value would only reach the database to fail there
    row = db.session.get(UserSession, session_id)
    if row is None or row.pending is not None:
        return None
    return row if row.is_active(utcnow(), policy.idle, policy.absolute) else None


def end_user_session(admin: User, target: UserSession, *, origin: Origin) -> int:
    """Sign that browser out and revoke the refresh tokens issued in it; returns how many families died."""
    # The same two steps as the person's own "End session" (app/account/sessions.end_session), but
    # audited as the operator's act: the person's history must not claim they did it themselves.
    revoke_session(target, reason="ended_by_operator")
    families = revoke_user_tokens(target.user, session_id=target.id)
    record_event(
        "admin.session_ended",
        origin=origin,
        actor=admin,
        subject=target.user,
        session_id=target.id,
        app_grants_ended=families,
    )
    return families


# Signing keys page


@dataclass(frozen=True)
class KeyEntry:
    row: SigningKey
    age: timedelta


def signing_keys(now: datetime | None = None) -> list[KeyEntry]:
    """Active keys first, then retired ones, newest first within each."""
    now = now or utcnow()
    rows = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.kid))
    return sorted((KeyEntry(row, now - row.created_at) for row in rows), key=lambda entry: not entry.row.is_active)


def rotate_signing_keys(admin: User, *, origin: Origin) -> list[SigningKey]:
    """New active keys for every algorithm; the old ones retire but stay published for their tokens' lifetime."""
    retired = list(db.session.scalars(select(SigningKey.kid).where(SigningKey.retired_at.is_(None))))
    created = rotate_keys()
    db.session.flush()
    record_event("admin.keys_rotated", origin=origin, actor=admin, new_kids=[row.kid for row in created], retired_kids=retired)
    return created
