"""Pushed authorization requests (RFC 9126): an authorization request a client sent ahead, by the back channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class PushedAuthorizationRequest(Base):
    """One pushed request, named in the front channel by its request_uri (only the digest of its random part here)."""

    __tablename__ = "oauth_pushed_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the request_uri's random part")
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    parameters: Mapped[list[list[str]]] = mapped_column(JSON, comment="the pushed parameters as [name, value] pairs")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, comment="first use at /oauth/authorize before this")
    opened_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="first seen at /oauth/authorize: sign-in and consent may then take longer than expires_at"
    )
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="the authorization response was issued")
