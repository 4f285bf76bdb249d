"""DPoP proofs seen (RFC 9449 11.1): each jti is accepted once while its proof could still be fresh."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class UsedDpopProof(Base):
    """The database replay store, used when Redis is not configured (or not answering)."""

    __tablename__ = "oauth_used_dpop_proof"

    jti_digest: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the proof's jti")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
