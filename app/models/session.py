"""Server-side sign-in sessions: the browser cookie only names one of these rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, StrEnumType, UTCDateTime, utcnow
from app.models.user import User


class SignInStage(StrEnum):
    """What a session still owes before it is signed in (None on the row: nothing, it is signed in)."""

    MFA = "mfa"  # the password (or a linked account) was accepted; the second factor is owed
    ENROL = "enrol"  # the person must set a second factor up before anything else


class UserSession(Base):
    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="public random id, safe to show in URLs")
    token_digest: Mapped[str] = mapped_column(
        String(64), unique=True, comment="SHA-256 of the cookie value; the cookie itself is never stored"
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="last time the person proved who they are")
    amr: Mapped[list[str]] = mapped_column(JSON, default=list, comment="RFC 8176 methods used, e.g. ['pwd']")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending: Mapped[SignInStage | None] = mapped_column(
        StrEnumType(SignInStage, 16),
        comment="None: signed in. 'mfa': password checked, second factor owed. 'enrol': a factor must be set up first",
    )

    # "Keep me signed in": the longer limits this session was given when it started (None: the configured ones).
    idle_seconds: Mapped[int | None] = mapped_column(Integer, comment="kept signed in: its own idle limit")
    absolute_seconds: Mapped[int | None] = mapped_column(Integer, comment="kept signed in: its own absolute limit")

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def kept_signed_in(self) -> bool:
        return self.absolute_seconds is not None

    def limits(self, idle: timedelta, absolute: timedelta) -> tuple[timedelta, timedelta]:
        """This session's idle and absolute limits: its own when kept signed in, else the given defaults."""
        if self.idle_seconds is not None:
            idle = timedelta(seconds=self.idle_seconds)
        if self.absolute_seconds is not None:
            absolute = timedelta(seconds=self.absolute_seconds)
        return idle, absolute

    def is_active(self, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
        """Live when not revoked and within both the idle and the absolute timeout (its own, when it has them)."""
        if self.revoked_at is not None:
            return False
        idle, absolute = self.limits(idle, absolute)
        return now - self.last_seen_at < idle and now - self.created_at < absolute
