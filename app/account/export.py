"""The data export: everything the IdP holds about a person, as one JSON document they can keep.

Each section lists columns explicitly rather than dumping rows: a new secret column (a digest, a
key, a seed) then stays out of the export until someone decides it belongs there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core.audit import Origin, describe_event, record_event
from app.core.factors import export_factors
from app.extensions import db
from app.models import (
    AuditEvent,
    AuthorizationCode,
    DeviceCode,
    EmailToken,
    OAuthConsent,
    RefreshToken,
    User,
    UserSession,
)
from app.models.base import utcnow
from app.models.federation import LinkedIdentity

FORMAT_VERSION = 1


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_filename(user: User, now: datetime | None = None) -> str:
    # No address in the name: downloads folders get synced and shared more than their contents are read.
    return f"account-export-{(now or utcnow()).strftime('%Y%m%d')}.json"


def build_export(user: User, *, service_name: str) -> dict[str, Any]:
    """The whole export as plain JSON-ready data (no digests, keys, seeds or codes anywhere)."""
    return {
        "format_version": FORMAT_VERSION,
        "service": service_name,
        "exported_at": _time(utcnow()),
        "profile": _profile(user),
        "sessions": _sessions(user),
        "connected_apps": _consents(user),
        "refresh_tokens": _refresh_tokens(user),
        "authorization_codes": _authorization_codes(user),
        "device_authorizations": _device_authorizations(user),
        "email_links": _email_links(user),
        "second_factors": export_factors(user),
        "linked_accounts": _linked_accounts(user),
        "security_events": _events(user),
    }


def record_export(user: User, *, origin: Origin) -> None:
    record_event("account.exported", origin=origin, subject=user)


def _rows(model, user: User, order_by) -> list:
    return list(db.session.scalars(select(model).where(model.user_id == user.id).order_by(order_by)))


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),  # the OIDC `sub` apps know this account by
        "email": user.email,
        "email_verified_at": _time(user.email_verified_at),
        "display_name": user.display_name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "locale": user.locale,
        "zoneinfo": user.zoneinfo,
        "is_admin": user.is_admin,
        "is_disabled": user.is_disabled,
        "failed_sign_in_count": user.failed_login_count,
        "locked_until": _time(user.locked_until),
        "created_at": _time(user.created_at),
        "updated_at": _time(user.updated_at),
    }


def _sessions(user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id,
            "created_at": _time(row.created_at),
            "last_seen_at": _time(row.last_seen_at),
            "authenticated_at": _time(row.auth_time),
            "methods": list(row.amr),
            "ip_address": row.ip_address,
            "user_agent": row.user_agent,
            "ended_at": _time(row.revoked_at),
        }
        for row in _rows(UserSession, user, UserSession.created_at)
    ]


def _client(client) -> dict[str, str]:
    return {"client_id": client.client_id, "name": client.name}


def _consents(user: User) -> list[dict[str, Any]]:
    return [
        {"app": _client(row.client), "scopes": row.scope.split(), "granted_at": _time(row.granted_at)}
        for row in _rows(OAuthConsent, user, OAuthConsent.granted_at)
    ]


def _refresh_tokens(user: User) -> list[dict[str, Any]]:
    return [
        {
            "app": _client(row.client),
            "family": row.family_id,
            "session_id": row.session_id,
            "scopes": row.scope.split(),
            "issued_at": _time(row.issued_at),
            "expires_at": _time(row.expires_at),
            "rotated_at": _time(row.used_at),
            "revoked_at": _time(row.revoked_at),
        }
        for row in _rows(RefreshToken, user, RefreshToken.issued_at)
    ]


def _authorization_codes(user: User) -> list[dict[str, Any]]:
    return [
        {
            "app": _client(row.client),
            "scopes": row.scope.split(),
            "redirect_uri": row.redirect_uri,
            "created_at": _time(row.created_at),
            "expires_at": _time(row.expires_at),
            "used_at": _time(row.used_at),
        }
        for row in _rows(AuthorizationCode, user, AuthorizationCode.created_at)
    ]


def _device_authorizations(user: User) -> list[dict[str, Any]]:
    return [
        {
            "app": _client(row.client),
            "scopes": row.scope.split(),
            "status": str(row.status),
            "created_at": _time(row.created_at),
            "expires_at": _time(row.expires_at),
        }
        for row in _rows(DeviceCode, user, DeviceCode.created_at)
    ]


def _email_links(user: User) -> list[dict[str, Any]]:
    return [
        {
            "purpose": str(row.purpose),
            "sent_to": row.email,
            "created_at": _time(row.created_at),
            "expires_at": _time(row.expires_at),
            "used_at": _time(row.used_at),
        }
        for row in _rows(EmailToken, user, EmailToken.created_at)
    ]


def _linked_accounts(user: User) -> list[dict[str, Any]]:
    return [
        {
            "provider": row.provider,
            "subject": row.subject,
            "email": row.email,
            "username": row.username,
            "linked_at": _time(row.linked_at),
            "last_used_at": _time(row.last_used_at),
        }
        for row in _rows(LinkedIdentity, user, LinkedIdentity.linked_at)
    ]


def _events(user: User) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_user_id == user.id).order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return [
        {
            "type": row.event_type,
            "description": describe_event(row.event_type),
            "at": _time(row.created_at),
            "ip_address": row.ip_address,
            "user_agent": row.user_agent,
            # Another person (an operator) acted: say so, without handing out their account id.
            "by_someone_else": row.actor_user_id not in (None, user.id),
            "details": dict(row.details or {}),  # record_event refuses secrets, so details are safe to hand back
        }
        for row in rows
    ]
