"""OAuth logic outside Authlib's request handling: token issuance, revocation, consent, client lookup."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.audit import Origin, record_event
from app.extensions import db
from app.models import (
    AuditEvent,
    AuthorizationCode,
    DeviceCode,
    DeviceCodeStatus,
    OAuthClient,
    OAuthConsent,
    RefreshToken,
    RevokedAccessToken,
    User,
)
from app.models.base import utcnow
from app.oauth import deny_list
from app.oauth.tokens import issue_access_token, issue_id_token
from app.security import new_public_id, new_token, token_digest

log = logging.getLogger(__name__)

REFRESH_TOKEN_PREFIX = "rt_"


class ClientCache:
    """Clients by client_id, cached per process for a few seconds: the token endpoint's hot path.

    A change to a client (disable, new secret, deletion) drops this process's copy at once. Other
    processes keep theirs until CLIENT_CACHE_SECONDS pass, unless Redis is configured. With Redis, a
    change bumps a shared generation number. Every process reads it at most once a second and
    empties its cache when the number moved, so a disabled client stops working everywhere within
    about a second, and no request pays a Redis round trip for it. If Redis can't be reached, the
    time limit still applies.
    """

    GENERATION_CHECK_SECONDS = 1.0

    def __init__(self, shared: redis.Redis | None = None, generation_key: str = "") -> None:
        self._entries: dict[str, tuple[float, OAuthClient | None]] = {}
        self._lock = threading.Lock()
        self._shared = shared
        self._generation_key = generation_key
        self._generation: bytes | None = None
        self._generation_checked = float("-inf")

    def get(self, client_id: str) -> OAuthClient | None:
        self._follow_other_processes()
        ttl = current_app.config["CLIENT_CACHE_SECONDS"]
        entry = self._entries.get(client_id)
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return entry[1]
        client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        if client is not None:
            db.session.expunge(client)  # a read-only snapshot; foreign keys use client.id
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[client_id] = (time.monotonic(), client)
        return client

    def invalidate(self, client_id: str | None = None) -> None:
        """Call after the commit: a process that refilled its cache before it would keep the old row."""
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)
        if self._shared is not None:
            try:
                self._shared.incr(self._generation_key)
            except redis.RedisError:
                log.warning("client cache: Redis unreachable; other processes see the change within CLIENT_CACHE_SECONDS")

    def _follow_other_processes(self) -> None:
        if self._shared is None or time.monotonic() - self._generation_checked < self.GENERATION_CHECK_SECONDS:
            return
        self._generation_checked = time.monotonic()
        try:
            generation = self._shared.get(self._generation_key)
        except redis.RedisError:
            return  # the time limit still bounds how stale an entry can be
        if generation != self._generation:
            with self._lock:
                self._entries.clear()
                self._generation = generation


def client_cache() -> ClientCache:
    cache = current_app.extensions.get("idp_client_cache")
    if cache is None:
        index = current_app.extensions.get("idp_deny_list_index")  # the app's Redis connection, if any
        key = f"{current_app.config['REDIS_KEY_PREFIX']}:clients:generation"
        cache = current_app.extensions.setdefault("idp_client_cache", ClientCache(index.client if index else None, key))
    return cache


def find_client(client_id: str | None) -> OAuthClient | None:
    """An enabled client, or None. Oversized ids are refused before any lookup."""
    if not client_id or len(client_id) > 64:
        return None
    client = client_cache().get(client_id)
    return client if client is not None and not client.is_disabled else None


def user_can_receive_tokens(user: User | None, now: datetime | None = None) -> bool:
    """Lockout and disable block every token path, refresh and device included (SECURITY.md)."""
    return user is not None and not user.is_disabled and not user.is_locked(now or utcnow())


@dataclass(frozen=True)
class PersonGrant:
    """What a person approved, carried from the code, device code or refresh token into new tokens."""

    client: OAuthClient
    user: User
    scope: str
    auth_time: datetime
    amr: list[str]
    session_id: str | None
    nonce: str | None = None


def issue_person_tokens(
    grant: PersonGrant,
    *,
    origin: Origin,
    include_refresh_token: bool,
    include_id_token: bool,
    family_id: str | None = None,
    parent: RefreshToken | None = None,
    code: AuthorizationCode | None = None,
    grant_type: str,
) -> dict[str, object]:
    """Access token (+ refresh token row, + ID token); writes the audit event. The caller commits."""
    access = issue_access_token(grant.client, grant.scope, user=grant.user, auth_time=grant.auth_time)
    response: dict[str, object] = {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "scope": grant.scope,
    }
    if code is not None:
        code.access_token_jti, code.access_token_expires_at = access.jti, access.expires_at
    if include_refresh_token:
        refresh_value = new_token(REFRESH_TOKEN_PREFIX)
        expires_at = _refresh_expiry(parent)
        db.session.add(
            RefreshToken(
                token_digest=token_digest(refresh_value),
                family_id=family_id or new_public_id(),
                parent_id=parent.id if parent else None,
                authorization_code_id=code.id if code else (parent.authorization_code_id if parent else None),
                client_id=grant.client.id,
                user_id=grant.user.id,
                session_id=grant.session_id,
                # RFC 6749 6: a rotated refresh token keeps its parent's scope, even when the access token narrows.
                scope=parent.scope if parent else grant.scope,
                auth_time=grant.auth_time,
                amr=list(grant.amr),
                expires_at=expires_at,
                access_token_jti=access.jti,
                access_token_expires_at=access.expires_at,
            )
        )
        response["refresh_token"] = refresh_value
    if include_id_token and "openid" in grant.scope.split():
        response["id_token"] = issue_id_token(
            grant.client,
            grant.user,
            grant.scope,
            nonce=grant.nonce,
            auth_time=grant.auth_time,
            amr=grant.amr,
            session_id=grant.session_id,
            access_token=access.token,
        )
    record_event(
        "oauth.token_issued",
        origin=origin,
        subject=grant.user,
        client_id=grant.client.client_id,
        grant_type=grant_type,
        scope=grant.scope,
        jti=access.jti,
        refresh=include_refresh_token,
    )
    return response


def _refresh_expiry(parent: RefreshToken | None) -> datetime:
    """Idle expiry for each token, capped by the family's absolute lifetime (SECURITY.md, BCP 4.14.2)."""
    config = current_app.config
    now = utcnow()
    started = now
    if parent is not None:
        started = db.session.scalar(
            select(func.min(RefreshToken.issued_at)).where(RefreshToken.family_id == parent.family_id)
        ) or parent.issued_at
    absolute = started + timedelta(seconds=config["REFRESH_TOKEN_TTL"])
    return min(absolute, now + timedelta(seconds=config["REFRESH_TOKEN_IDLE_TTL"]))


def deny_access_token(jti: str, expires_at: datetime) -> None:
    """Put a jti on the deny-list until the token would have expired; a repeat is harmless."""
    if expires_at <= utcnow() or db.session.get(RevokedAccessToken, jti) is not None:
        return
    try:
        with db.session.begin_nested():
            deny_list.deny(jti, expires_at)
    except IntegrityError:
        pass  # a parallel revocation (replay racers, double revoke) denied it first: same outcome


def prune_deny_list() -> int:
    return db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= utcnow())).rowcount


def revoke_refresh_family(family_id: str) -> int:
    """Revoke every refresh token of a family and deny-list the access tokens issued beside them."""
    now = utcnow()
    rows = list(db.session.scalars(select(RefreshToken).where(RefreshToken.family_id == family_id)))
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
        if row.access_token_jti and row.access_token_expires_at:
            deny_access_token(row.access_token_jti, row.access_token_expires_at)
    return len(rows)


def revoke_tokens_from_code(code: AuthorizationCode) -> None:
    """A code redeemed twice was stolen or replayed: everything it produced dies (OAuth 2.1 4.1.3)."""
    if code.access_token_jti and code.access_token_expires_at:
        deny_access_token(code.access_token_jti, code.access_token_expires_at)
    families = db.session.scalars(
        select(RefreshToken.family_id).where(RefreshToken.authorization_code_id == code.id).distinct()
    )
    for family_id in list(families):
        revoke_refresh_family(family_id)


def consume_code(code: AuthorizationCode) -> bool:
    """Mark a code used with one conditional UPDATE: of N parallel redemptions exactly one wins."""
    result = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


def consume_refresh_token(token: RefreshToken) -> bool:
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


def find_refresh_token(value: str) -> RefreshToken | None:
    if not value or len(value) > 128:
        return None
    return db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == token_digest(value)))


# --- consent ---


def find_consent(user: User, client: OAuthClient) -> OAuthConsent | None:
    return db.session.scalar(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_id == client.id)
    )


def needs_consent(user: User, client: OAuthClient, scope: str) -> bool:
    if client.is_first_party:
        return False
    consent = find_consent(user, client)
    return consent is None or not consent.covers(scope)


def grant_consent(user: User, client: OAuthClient, scope: str, *, origin: Origin) -> None:
    """Remember the approval; a later request for more scopes asks again (only for what is new)."""
    consent = find_consent(user, client)
    if consent is None:
        consent = OAuthConsent(user_id=user.id, client_id=client.id, scope="")
        db.session.add(consent)
    consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scope.split())))
    consent.granted_at = utcnow()
    record_event("oauth.consent_granted", origin=origin, subject=user, client_id=client.client_id, scope=scope)


def record_consent_denied(user: User, client: OAuthClient, scope: str, *, origin: Origin) -> None:
    record_event("oauth.consent_denied", origin=origin, subject=user, client_id=client.client_id, scope=scope)


# --- replay, revocation and introspection ---


def record_code_replay(code: AuthorizationCode, *, origin: Origin) -> None:
    record_event("oauth.code_replayed", origin=origin, subject=code.user, client_id=code.client.client_id)


def record_refresh_replay(token: RefreshToken, *, origin: Origin) -> None:
    record_event(
        "oauth.refresh_replayed", origin=origin, subject=token.user, client_id=token.client.client_id, family=token.family_id
    )


def revoke_token_object(token: object, *, origin: Origin) -> None:
    """Revoke what the revocation endpoint found: a refresh token (its whole family) or an access JWT."""
    if isinstance(token, RefreshToken):
        revoke_refresh_family(token.family_id)
        record_event("oauth.token_revoked", origin=origin, subject=token.user, client_id=token.client.client_id, kind="refresh")
        return
    claims = token.claims  # AccessTokenClaims
    deny_access_token(claims["jti"], datetime.fromtimestamp(claims["exp"], tz=UTC))
    record_event("oauth.token_revoked", origin=origin, client_id=claims.get("client_id"), kind="access", jti=claims["jti"])


def introspection_payload(token: object) -> dict[str, object]:
    """RFC 7662 2.2 members for an active token."""
    issuer = current_app.config["ISSUER"]
    if isinstance(token, RefreshToken):
        return {
            "active": True,
            "scope": token.scope,
            "client_id": token.client.client_id,
            "sub": str(token.user_id),
            "exp": int(token.expires_at.timestamp()),
            "iat": int(token.issued_at.timestamp()),
            "token_type": "refresh_token",
            "iss": issuer,
        }
    claims = token.claims
    payload = {key: claims[key] for key in ("scope", "client_id", "sub", "exp", "iat", "aud", "iss", "jti") if key in claims}
    payload.update(active=True, token_type="Bearer")
    return payload


def delete_client(client: OAuthClient) -> None:
    """Revoke what the client holds, then remove it and every row that names it (the caller audits)."""
    revoke_client_tokens(client)
    db.session.flush()  # the deny-list rows are written before the rows they came from go
    _delete_rows_naming_client(client)
    db.session.delete(client)


def _delete_rows_naming_client(client: OAuthClient) -> None:
    """Delete every row that references the client (codes, refresh tokens, consents, ...), dependents first.

    Explicit deletes rather than ON DELETE CASCADE: SQLite enforces it only with PRAGMA foreign_keys, and a
    reused row id would otherwise hand the next client this one's consents.
    """
    for table in reversed(db.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table.name == OAuthClient.__tablename__ and table.name != OAuthClient.__tablename__:
                db.session.execute(delete(table).where(fk.parent == client.id))


def revoke_client_tokens(client: OAuthClient) -> None:
    """Before a client is deleted or disabled: every refresh family and live access token it holds dies."""
    families = db.session.scalars(select(RefreshToken.family_id).where(RefreshToken.client_id == client.id).distinct())
    for family_id in list(families):
        revoke_refresh_family(family_id)
    codes = db.session.scalars(select(AuthorizationCode).where(AuthorizationCode.client_id == client.id))
    for code in codes:
        if code.access_token_jti and code.access_token_expires_at:
            deny_access_token(code.access_token_jti, code.access_token_expires_at)


def revoke_user_tokens(user: User, *, session_id: str | None = None) -> int:
    """End the user's refresh families (all, or those issued in one session) and their access tokens.

    For all of them (disable, reset, deletion, an admin's revoke), access tokens issued without a
    refresh token beside them are deny-listed too, and uncollected device approvals denied.
    """
    query = select(RefreshToken.family_id).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
    if session_id is not None:
        query = query.where(RefreshToken.session_id == session_id)
    families = list(db.session.scalars(query.distinct()))
    for family_id in families:
        revoke_refresh_family(family_id)
    if session_id is None:
        deny_live_access_tokens(user.id)
        # A device approved but not yet collected would otherwise still get tokens after this.
        db.session.execute(
            update(DeviceCode)
            .where(DeviceCode.user_id == user.id, DeviceCode.status == DeviceCodeStatus.APPROVED)
            .values(status=DeviceCodeStatus.DENIED)
        )
    return len(families)


def deny_live_access_tokens(user_id: int) -> None:
    """Deny-list every access token of the user that may still be live, those with no refresh token included.

    Tokens from a code or a device approval without offline access leave no refresh row; the issuance
    audit event (and the code row) still name their jti.
    """
    ttl = timedelta(seconds=current_app.config["ACCESS_TOKEN_TTL"])
    issued = db.session.execute(
        select(AuditEvent.details, AuditEvent.created_at).where(
            AuditEvent.subject_user_id == user_id,
            AuditEvent.event_type == "oauth.token_issued",
            AuditEvent.created_at >= utcnow() - ttl,
        )
    )
    for details, created_at in issued:
        jti = (details or {}).get("jti")
        if jti:
            deny_access_token(jti, created_at + ttl)
    codes = db.session.execute(
        select(AuthorizationCode.access_token_jti, AuthorizationCode.access_token_expires_at).where(
            AuthorizationCode.user_id == user_id, AuthorizationCode.access_token_jti.is_not(None)
        )
    )
    for jti, expires_at in codes:
        if expires_at:
            deny_access_token(jti, expires_at)
