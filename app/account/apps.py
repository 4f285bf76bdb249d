"""Apps connected to the person's account: what each may do, its live refresh tokens, and disconnecting it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update

from app.core.audit import Origin, record_event
from app.core.consent import find_consent
from app.core.revocation import deny_live_access_tokens, revoke_refresh_family
from app.core.scopes import describe_scope
from app.extensions import db
from app.models import DeviceCode, DeviceCodeStatus, OAuthClient, OAuthConsent, RefreshToken, User
from app.models.base import utcnow
from app.models.oauth import MAX_CLIENT_ID_LENGTH


@dataclass(frozen=True)
class ConnectedApp:
    client: OAuthClient
    scopes: list[tuple[str, str]]  # (scope, what it lets the app do)
    consented_at: datetime | None  # None: a first-party app, which never asks
    active_tokens: int
    last_issued_at: datetime | None

    @property
    def is_first_party(self) -> bool:
        return self.consented_at is None and self.client.is_first_party


@dataclass(frozen=True)
class _TokenSummary:
    count: int
    last_issued_at: datetime | None
    scope: set[str]


def _described(scopes: set[str]) -> list[tuple[str, str]]:
    return [(scope, describe_scope(scope)) for scope in sorted(scopes)]


def _active_tokens(user: User, now: datetime) -> Select:
    """Usable refresh tokens: each is the current end of one family (a rotated one is used, not active)."""
    return select(RefreshToken.client_id, RefreshToken.issued_at, RefreshToken.scope).where(
        RefreshToken.user_id == user.id,
        RefreshToken.revoked_at.is_(None),
        RefreshToken.used_at.is_(None),
        RefreshToken.expires_at > now,
    )


def _active_tokens_by_client(user: User, now: datetime) -> dict[int, _TokenSummary]:
    rows = db.session.execute(_active_tokens(user, now))
    summaries: dict[int, _TokenSummary] = {}
    for client_id, issued_at, scope in rows:
        seen = summaries.get(client_id, _TokenSummary(0, None, set()))
        latest = issued_at if seen.last_issued_at is None else max(seen.last_issued_at, issued_at)
        summaries[client_id] = _TokenSummary(seen.count + 1, latest, seen.scope | set(scope.split()))
    return summaries


def connected_apps(user: User, now: datetime | None = None) -> list[ConnectedApp]:
    """Apps the person consented to, then apps holding their tokens without a consent (first-party ones)."""
    tokens = _active_tokens_by_client(user, now or utcnow())
    consents = db.session.scalars(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id).order_by(OAuthConsent.granted_at.desc())
    )
    listed: list[ConnectedApp] = []
    for consent in consents:
        summary = tokens.pop(consent.client_id, _TokenSummary(0, None, set()))
        listed.append(
            ConnectedApp(
                consent.client, _described(set(consent.scope.split())), consent.granted_at, summary.count, summary.last_issued_at
            )
        )
    unconsented = db.session.scalars(select(OAuthClient).where(OAuthClient.id.in_(tokens)).order_by(OAuthClient.name))
    for client in unconsented:
        summary = tokens[client.id]
        listed.append(ConnectedApp(client, _described(summary.scope), None, summary.count, summary.last_issued_at))
    return listed


def find_connected_client(user: User, client_id: str) -> OAuthClient | None:
    """The client named by its public id, when it is on this person's list (a consent, or live tokens)."""
    # Visible ASCII of a sane length only: anything else matches no row (and a NUL byte breaks PostgreSQL).
    if not 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH or not (client_id.isascii() and client_id.isprintable()):
        return None
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        return None
    if find_consent(user, client) is not None:
        return client
    holds_tokens = db.session.scalar(_active_tokens(user, utcnow()).where(RefreshToken.client_id == client.id).limit(1))
    return client if holds_tokens is not None else None


def _live_families(user: User, client: OAuthClient) -> list[str]:
    query = select(RefreshToken.family_id).where(
        RefreshToken.user_id == user.id, RefreshToken.client_id == client.id, RefreshToken.revoked_at.is_(None)
    )
    return list(db.session.scalars(query.distinct()))


def disconnect_app(user: User, client: OAuthClient, *, origin: Origin) -> int:
    """Forget the consent and end everything the app holds for this person; returns the families revoked."""
    consent = find_consent(user, client)
    if consent is not None:
        db.session.delete(consent)  # the next authorization request asks again
    families = _live_families(user, client)
    for family_id in families:
        revoke_refresh_family(family_id)  # deny-lists the access tokens issued beside each refresh token
    # Access tokens without a refresh token beside them (a code or device approval without offline access) too.
    deny_live_access_tokens(user.id, client_id=client.id)
    # A device the person approved but that has not collected its tokens yet must not get them now.
    db.session.execute(
        update(DeviceCode)
        .where(DeviceCode.user_id == user.id, DeviceCode.client_id == client.id, DeviceCode.status == DeviceCodeStatus.APPROVED)
        .values(status=DeviceCodeStatus.DENIED)
    )
    record_event(
        "oauth.consent_revoked",
        origin=origin,
        subject=user,
        client_id=client.client_id,
        had_consent=consent is not None,
        app_grants_ended=len(families),
    )
    return len(families)
