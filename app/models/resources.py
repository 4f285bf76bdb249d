"""APIs (resource servers) registered with the IdP: each is the audience of its own access tokens (RFC 8707).

An API's scopes are custom scopes (``CustomScope.resource_id``): a scope name belongs to one API at most,
so the consent page, the stored consent and a token's ``scope`` name it without ambiguity.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

# Which APIs a client may ask tokens for (by resource indicator); without a row, none.
client_resources = Table(
    "client_api_resource",
    Base.metadata,
    Column("client_id", ForeignKey("oauth_client.id", ondelete="CASCADE"), primary_key=True),
    Column("resource_id", ForeignKey("api_resource.id", ondelete="CASCADE"), primary_key=True),
)


class ApiResource(Base):
    __tablename__ = "api_resource"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(500), unique=True, comment="absolute URI: the aud of its tokens")
    name: Mapped[str] = mapped_column(String(100))
    access_token_seconds: Mapped[int | None] = mapped_column(Integer, comment="none: IDP_ACCESS_TOKEN_SECONDS")
    signing_alg: Mapped[str | None] = mapped_column(String(8), comment="none: IDP_ACCESS_TOKEN_ALG")
    allow_introspection: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scopes = relationship("CustomScope", back_populates="resource", order_by="CustomScope.name")
    clients = relationship("OAuthClient", secondary=client_resources, order_by="OAuthClient.name")

    def scope_names(self) -> set[str]:
        return {scope.name for scope in self.scopes}
