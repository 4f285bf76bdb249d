"""OIDC Back-Channel Logout 1.0: which apps got an ID token in a session, and the logout tokens still to deliver."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.oauth import OAuthClient


class SessionApp(Base):
    """An app with a back-channel logout URI received an ID token in this session: it is told when the session ends."""

    __tablename__ = "session_app"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="the UserSession (sid)")
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingLogout(Base):
    """A logout token owed to an app: deleted once delivered or given up (the audit log keeps each result).

    The token itself is signed at each attempt, so nothing secret or stale waits here.
    """

    __tablename__ = "pending_logout"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), comment="for the audit log; an account deleted since still gets its logout"
    )
    subject: Mapped[str] = mapped_column(String(255), comment="the sub the app knows the person by")
    session_id: Mapped[str | None] = mapped_column(String(32), comment="the ended session (sid)")
    reason: Mapped[str] = mapped_column(String(32), comment="why the session ended, for the audit log")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(
        UTCDateTime, index=True, comment="due then; a worker that takes it moves this past its own timeout (a lease)"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
