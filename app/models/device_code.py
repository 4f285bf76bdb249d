"""The device authorization grant's codes (RFC 8628): one row per device code, polled until redeemed."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.oauth import OAuthClient
from app.models.user import User


class DeviceCodeStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REDEEMED = "redeemed"


class DeviceCode(Base):
    __tablename__ = "oauth_device_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_code: Mapped[str] = mapped_column(String(8), unique=True, comment="normalized: 8 letters, no dash")
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    interval: Mapped[int] = mapped_column(Integer, default=5)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[DeviceCodeStatus] = mapped_column(
        Enum(DeviceCodeStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=DeviceCodeStatus.PENDING,
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(32))
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, comment="RFC 8707 resource indicators asked for")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")
