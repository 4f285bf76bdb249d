"""What the IdP remembers about the browsers and networks a person signs in from (the new-sign-in email)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class SeenDevice(Base):
    """One (browser, network) pair a person signed in from; a sign-in from a new browser on a new network is mailed."""

    __tablename__ = "seen_device"
    __table_args__ = (UniqueConstraint("user_id", "device_digest", "network"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    device_digest: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the device cookie's random id")
    network: Mapped[str] = mapped_column(String(64), comment="coarse: the IPv4 /24 or IPv6 /48, never the address")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True, comment="pruned 180 days after")


class TrustedBrowser(Base):
    """A browser the person chose to trust after a second factor: its sign-ins skip the challenge until expires_at."""

    __tablename__ = "trusted_browser"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the cookie value")
    user_agent: Mapped[str] = mapped_column(String(120), default="", comment="browser and system, as shown to the person")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
