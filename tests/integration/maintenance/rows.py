"""Rows of every kind that `flask maintenance prune` looks at, built directly with the models at chosen times."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Table, select

from app.extensions import db
from app.models import (
    AuditEvent,
    AuthorizationCode,
    ClientCredentialsUsage,
    DeviceCode,
    EmailToken,
    EmailTokenPurpose,
    LiveAccessToken,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
    SeenDevice,
    SmsCode,
    TrustedBrowser,
    UsedClientAssertion,
    User,
    UserSession,
    WebAuthnChallenge,
)
from app.models.mfa import ChallengePurpose, SmsPurpose


def unique() -> str:
    return uuid.uuid4().hex


def make_client() -> OAuthClient:
    client = OAuthClient(client_id=unique(), name="Scheduled job test")
    db.session.add(client)
    db.session.flush()
    return client


def deny_listed(expires_at: datetime) -> RevokedAccessToken:
    return RevokedAccessToken(jti=unique(), expires_at=expires_at)


def live_token(user: User, client: OAuthClient, expires_at: datetime) -> LiveAccessToken:
    return LiveAccessToken(jti=unique(), user_id=user.id, client_id=client.id, expires_at=expires_at)


def device_code(client: OAuthClient, expires_at: datetime) -> DeviceCode:
    return DeviceCode(device_code_digest=unique(), user_code=unique()[:8].upper(), client_id=client.id, expires_at=expires_at)


def client_assertion(client: OAuthClient, expires_at: datetime) -> UsedClientAssertion:
    return UsedClientAssertion(client_id=client.id, jti=unique(), expires_at=expires_at)


def webauthn_challenge(user: User, expires_at: datetime) -> WebAuthnChallenge:
    return WebAuthnChallenge(
        id=unique(), challenge=b"challenge", purpose=ChallengePurpose.AUTHENTICATE, user_id=user.id, expires_at=expires_at
    )


def sms_code(user: User, expires_at: datetime) -> SmsCode:
    return SmsCode(
        user_id=user.id,
        phone_e164="+15550100000",
        purpose=SmsPurpose.SIGNIN,
        code_digest=unique(),
        created_at=expires_at - timedelta(minutes=5),
        expires_at=expires_at,
    )


def email_token(user: User, expires_at: datetime) -> EmailToken:
    return EmailToken(
        token_digest=unique(),
        purpose=EmailTokenPurpose.RESET,
        user_id=user.id,
        email=user.email,
        created_at=expires_at - timedelta(hours=1),
        expires_at=expires_at,
    )


def authorization_code(user: User, client: OAuthClient, expires_at: datetime) -> AuthorizationCode:
    return AuthorizationCode(
        code_digest=unique(),
        client_id=client.id,
        user_id=user.id,
        redirect_uri="https://rp.example/cb",
        auth_time=expires_at - timedelta(minutes=1),
        expires_at=expires_at,
    )


def refresh_family(user: User, client: OAuthClient, *expiries: datetime, **columns) -> list[RefreshToken]:
    """One rotation family, oldest first: each token the parent of the next, as rotation links them."""
    family_id, rows, parent = unique()[:32], [], None
    for expires_at in expiries:
        row = RefreshToken(
            token_digest=unique(),
            family_id=family_id,
            parent_id=parent.id if parent else None,
            client_id=client.id,
            user_id=user.id,
            auth_time=expires_at - timedelta(days=30),
            issued_at=expires_at - timedelta(days=14),
            expires_at=expires_at,
            **columns,
        )
        db.session.add(row)
        db.session.flush()
        rows.append(row)
        parent = row
    return rows


def user_session(user: User, *, created_at: datetime, last_seen_at: datetime, revoked_at: datetime | None = None) -> UserSession:
    return UserSession(
        id=unique()[:32],
        token_digest=unique(),
        user_id=user.id,
        created_at=created_at,
        last_seen_at=last_seen_at,
        auth_time=created_at,
        revoked_at=revoked_at,
    )


def audit_event(created_at: datetime) -> AuditEvent:
    return AuditEvent(event_type="auth.login", created_at=created_at, details={})


def machine_usage(client: OAuthClient, minute: datetime) -> ClientCredentialsUsage:
    return ClientCredentialsUsage(client_id=client.id, minute=minute.replace(second=0, microsecond=0), count=3)


def keys_of(table: Table) -> set[tuple]:
    """The primary keys of every row the table holds now."""
    return {tuple(row) for row in db.session.execute(select(*table.primary_key.columns))}


def key_of(row) -> tuple:
    db.session.flush()
    table = row.__table__
    return tuple(getattr(row, column.key) for column in table.primary_key.columns)


def seen_device(user: User, last_seen_at: datetime) -> SeenDevice:
    return SeenDevice(user_id=user.id, device_digest=unique(), network="203.0.113.0/24", last_seen_at=last_seen_at)


def trusted_browser(user: User, expires_at: datetime) -> TrustedBrowser:
    return TrustedBrowser(user_id=user.id, token_digest=unique(), expires_at=expires_at)
