"""People who sign in here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "user"
    # The id is the OIDC `sub`, which must never be handed to someone else: without AUTOINCREMENT
    # SQLite reuses the highest id after a deletion (PostgreSQL sequences never go back).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), comment="as typed; compared lower-cased")
    display_name: Mapped[str] = mapped_column(String(100), default="")
    # OIDC standard claims of the profile scope (Core 5.1); empty when the person gave none.
    given_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    family_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    locale: Mapped[str] = mapped_column(String(35), default="", server_default="", comment="BCP 47 tag, e.g. en-GB")
    zoneinfo: Mapped[str] = mapped_column(String(64), default="", server_default="", comment="IANA zone, e.g. Europe/Paris")
    password_hash: Mapped[str | None] = mapped_column(String(255), comment="argon2id PHC string")
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_email_verified(self) -> bool:
        return self.email_verified_at is not None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def __repr__(self) -> str:
        return f"<User {self.id}>"


# Case-insensitive uniqueness that holds on SQLite and PostgreSQL alike.
Index("uq_user_email_lower", func.lower(User.email), unique=True)
