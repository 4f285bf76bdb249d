"""Tokens for a person: the access token, the rotating refresh token and the ID token, issued together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.core.audit import Origin, record_event
from app.core.backchannel_logout import remember_app
from app.core.jwts import issue_access_token, issue_id_token, token_type
from app.core.resources import scope_for_api
from app.core.response_encryption import require_id_token_key
from app.extensions import db
from app.metrics import count_token_issued
from app.models import ApiResource, AuthorizationCode, LiveAccessToken, OAuthClient, RefreshToken, User
from app.models.base import utcnow
from app.security import new_public_id, new_token, token_digest

REFRESH_TOKEN_PREFIX = "rt_"


def user_can_receive_tokens(user: User | None, now: datetime | None = None) -> bool:
    """Lockout and disable block every token path, refresh and device included (docs/security.md)."""
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
    resources: tuple[str, ...] = ()  # RFC 8707 identifiers granted


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
    resource: ApiResource | None = None,
    dpop_jkt: str | None = None,
) -> dict[str, object]:
    """Access token (+ its live-token row, + refresh token row, + ID token); writes the audit event. The caller commits.

    With a resource, the access token is that API's and carries only its scopes; the refresh token
    keeps the whole grant, every API included, for later requests (RFC 8707 2.2). With a DPoP key (its
    jkt), the access token is bound to it, and so is a public client's refresh token (RFC 9449 5):
    a confidential client's refresh token is already bound to the client's own credentials.
    """
    if include_id_token and "openid" in grant.scope.split():
        require_id_token_key(grant.client)  # an unencryptable ID token: refuse before any row is written
    access_scope = scope_for_api(grant.scope, resource) if resource else grant.scope
    access = issue_access_token(
        grant.client, access_scope, user=grant.user, auth_time=grant.auth_time, resource=resource, dpop_jkt=dpop_jkt
    )
    response: dict[str, object] = {
        "access_token": access.token,
        "token_type": token_type(dpop_jkt),
        "expires_in": access.expires_in,
        "scope": access_scope,
    }
    # The live-token list, not the audit log, is what "revoke everything this person holds" reads.
    db.session.add(
        LiveAccessToken(
            jti=access.jti,
            user_id=grant.user.id,
            client_id=grant.client.id,
            session_id=grant.session_id,
            issued_at=access.expires_at - timedelta(seconds=access.expires_in),
            expires_at=access.expires_at,
        )
    )
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
                resources=list(parent.resources) if parent else list(grant.resources),
                auth_time=grant.auth_time,
                amr=list(grant.amr),
                expires_at=expires_at,
                access_token_jti=access.jti,
                access_token_expires_at=access.expires_at,
                dpop_jkt=None if grant.client.is_confidential else dpop_jkt,
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
        remember_app(grant.session_id, grant.client)  # told by back-channel logout when that session ends
    record_event(
        "oauth.token_issued",
        origin=origin,
        subject=grant.user,
        client_id=grant.client.client_id,
        grant_type=grant_type,
        scope=grant.scope,
        **({"audience": resource.identifier} if resource else {}),
        jti=access.jti,
        refresh=include_refresh_token,
    )
    count_token_issued(grant_type, confidential=grant.client.is_confidential)
    return response


def _refresh_expiry(parent: RefreshToken | None) -> datetime:
    """Idle expiry for each token, capped by the family's absolute lifetime (docs/security.md, BCP 4.14.2)."""
    config = current_app.config
    now = utcnow()
    started = now
    if parent is not None:
        started = (
            db.session.scalar(select(func.min(RefreshToken.issued_at)).where(RefreshToken.family_id == parent.family_id))
            or parent.issued_at
        )
    absolute = started + timedelta(seconds=config["REFRESH_TOKEN_TTL"])
    return min(absolute, now + timedelta(seconds=config["REFRESH_TOKEN_IDLE_TTL"]))
