"""Accounts at other providers (Google, GitHub, Discord, any OpenID Connect provider) linked to a person here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.user import User


class LinkedIdentity(Base):
    """One upstream account that may sign its person in here.

    The provider's subject is what identifies it: emails change and can be reassigned upstream, so they
    are kept only to show the person which account is linked, never to find it.
    """

    __tablename__ = "linked_identity"
    # One upstream account belongs to at most one person here.
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32), comment="the configured provider name, e.g. github")
    subject: Mapped[str] = mapped_column(String(255), comment="the provider's stable id: OIDC sub, GitHub/Discord user id")
    email: Mapped[str] = mapped_column(String(254), default="", comment="as the provider last reported it")
    username: Mapped[str] = mapped_column(String(100), default="", comment="login or handle, to tell accounts apart")
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
