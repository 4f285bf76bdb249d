"""OAuth 2.1 / OpenID Connect records: clients, codes, refresh and live access tokens, consents, deny-list."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.user import User
from app.security import constant_time_equals, token_digest

# Ids are 32 random characters, or an https URL naming a Client ID Metadata Document (app/core/client_metadata.py).
MAX_CLIENT_ID_LENGTH = 255
_LOOPBACK_URI = re.compile(r"(http://(?:127\.0\.0\.1|\[::1\]))(?::([1-9][0-9]{0,4}))?([/?].*)?", re.DOTALL)


def loopback_without_port(uri: str) -> str | None:
    """``http://127.0.0.1:PORT/path`` without its port, for loopback IP literals only; otherwise None."""
    match = _LOOPBACK_URI.fullmatch(uri)
    if match is None or (match.group(2) and int(match.group(2)) > 65535):
        return None
    return match.group(1) + (match.group(3) or "")


class OAuthClient(Base):
    """A relying party. Answers Authlib's ClientMixin questions about itself."""

    __tablename__ = "oauth_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(MAX_CLIENT_ID_LENGTH), unique=True)
    client_secret_digest: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the secret; a high-entropy secret needs no slow hash"
    )
    name: Mapped[str] = mapped_column(String(100))
    logo_uri: Mapped[str | None] = mapped_column(String(500))
    tos_uri: Mapped[str | None] = mapped_column(String(500))
    policy_uri: Mapped[str | None] = mapped_column(String(500))
    is_confidential: Mapped[bool] = mapped_column(Boolean, default=True)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    application_type: Mapped[str] = mapped_column(String(8), default="web", server_default="web", comment="web or native")
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list, comment="compared byte for byte")
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500), comment="OIDC Back-Channel Logout: told of sign-outs")
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), comment="the app needs sid in its logout tokens"
    )
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    response_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="", comment="space-separated scopes the client may ask for")
    jwks: Mapped[dict | None] = mapped_column(JSON, comment="public keys for private_key_jwt")
    is_first_party: Mapped[bool] = mapped_column(Boolean, default=False, comment="skips the consent page")
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    roles_claim: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), comment="deliver roles and groups claims when the roles scope is asked"
    )
    allow_plain_code_flow: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="confidential clients only: PKCE may be omitted (never for public clients)"
    )
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), comment="RFC 9126: authorization requests only by request_uri"
    )
    require_dpop: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=false(),
        comment="RFC 9449 5.2 dpop_bound_access_tokens: token requests need a proof",
    )
    # OIDC Registration 2: encryption for the key in jwks (alg null: not encrypted); userinfo_signed null: plain JSON.
    id_token_encrypted_response_alg: Mapped[str | None] = mapped_column(String(32))
    id_token_encrypted_response_enc: Mapped[str | None] = mapped_column(String(32))
    userinfo_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    userinfo_encrypted_response_alg: Mapped[str | None] = mapped_column(String(32))
    userinfo_encrypted_response_enc: Mapped[str | None] = mapped_column(String(32))
    registration_token_digest: Mapped[str | None] = mapped_column(String(64), comment="RFC 7592 access token digest")
    is_dynamically_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    is_metadata_document: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), comment="client_id is the URL of its metadata document: unreviewed"
    )
    metadata_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="fetch the document again after this")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def metadata_document_host(self) -> str:
        """The host a metadata-document client names itself by: the one thing about it that was checked."""
        return (urlsplit(self.client_id).hostname or "") if self.is_metadata_document else ""

    # --- Authlib ClientMixin ---
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OAuth 2.1: the redirect_uri is always sent; a default would hide mismatches.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:  # exact string match (BCP 4.1.3)
            return True
        # Only a native app's loopback IP port may differ (an ephemeral port, RFC 8252 7.3); never a web client's.
        if self.application_type != "native":
            return False
        without_port = loopback_without_port(redirect_uri)
        return without_port is not None and any(loopback_without_port(uri) == without_port for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret_digest or not client_secret or len(client_secret) > 256:
            return False
        return constant_time_equals(token_digest(client_secret), self.client_secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class AuthorizationCode(Base):
    __tablename__ = "oauth_authorization_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(32), comment="the UserSession that approved it (sid)")
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime, comment="when the person last authenticated")
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, comment="RFC 8707 resource indicators granted")
    dpop_jkt: Mapped[str | None] = mapped_column(String(43), comment="RFC 9449 10: the key the token request must prove")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    access_token_jti: Mapped[str | None] = mapped_column(String(64), comment="first redemption's access token")
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")

    # --- Authlib AuthorizationCodeMixin ---
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_amr(self) -> list[str]:
        return list(self.amr)

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


class RefreshToken(Base):
    """An opaque refresh token; rotation links rows in a family, and reuse revokes the family (RFC 9700 4.14)."""

    __tablename__ = "oauth_refresh_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_refresh_token.id", ondelete="SET NULL"))
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("oauth_authorization_code.id", ondelete="SET NULL"), index=True
    )
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, comment="RFC 8707: the APIs it may be used for")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="absolute end of the family")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="rotated: a second use is a replay")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    access_token_jti: Mapped[str | None] = mapped_column(String(64), comment="access token issued beside it")
    dpop_jkt: Mapped[str | None] = mapped_column(String(43), comment="RFC 9449 5: public clients' refresh needs this key")
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.used_at is None and now < self.expires_at

    # --- Authlib TokenMixin (refresh grant, revocation, introspection) ---
    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.used_at is not None


class RevokedAccessToken(Base):
    """The deny-list for self-contained access tokens: kept only until the token would expire anyway."""

    __tablename__ = "oauth_revoked_access_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveAccessToken(Base):
    """An access token issued to a person, kept until it expires: the list that "revoke everything" deny-lists.

    Access tokens are self-contained JWTs; this row only names one, so a person's or a client's tokens can be
    found without reading the audit log. Machine tokens (client credentials) are never written here.
    """

    __tablename__ = "oauth_live_access_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(32), comment="the UserSession it was issued in, if any (sid)")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, comment="the token's exp: pruned after it")


class OAuthConsent(Base):
    __tablename__ = "oauth_consent"
    __table_args__ = (UniqueConstraint("user_id", "client_id", name="uq_oauth_consent_user_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[OAuthClient] = relationship(lazy="joined")

    def covers(self, scope: str) -> bool:
        return set(scope.split()) <= set(self.scope.split())


class ClientCredentialsUsage(Base):
    """Machine tokens counted per client and minute: one upserted row instead of a row per token."""

    __tablename__ = "oauth_client_credentials_usage"

    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class UsedClientAssertion(Base):
    """private_key_jwt assertions seen, kept until they expire so each jti is accepted once (RFC 7523 3)."""

    __tablename__ = "oauth_used_client_assertion"

    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
