"""Single-use links sent by email: address verification, password reset and email change."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.user import User


class EmailTokenPurpose(enum.StrEnum):
    VERIFY = "verify"
    RESET = "reset"
    CHANGE_EMAIL = "change_email"  # sent to the new address; the change happens when it is used


class EmailToken(Base):
    __tablename__ = "email_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the emailed token")
    purpose: Mapped[EmailTokenPurpose] = mapped_column(
        Enum(EmailTokenPurpose, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), comment="the address the link was sent to")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")

    def is_usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at
