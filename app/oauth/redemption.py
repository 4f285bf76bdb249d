"""What the token, revocation and introspection endpoints do with a presented code or token."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select, update

from app.core.audit import Origin, record_event
from app.core.revocation import deny_access_token, lock_refresh_family, revoke_refresh_family
from app.extensions import db
from app.metrics import REPLAYS, REVOCATIONS, count
from app.models import AuthorizationCode, RefreshToken
from app.models.base import utcnow
from app.security import token_digest


def lock_code(code: AuthorizationCode) -> AuthorizationCode:
    """Lock the code's row (SELECT ... FOR UPDATE) and reload it: parallel redemptions and replays queue here.

    The first lock every code redemption takes, before any refresh family: the winner commits its tokens
    while the others wait, and each of those then finds the code used and revokes under the same lock.
    """
    query = (
        select(AuthorizationCode)
        .where(AuthorizationCode.id == code.id)
        .with_for_update(of=AuthorizationCode)
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(query).one()


def lock_refresh_token(token: RefreshToken) -> RefreshToken:
    """Lock the token's whole family (in the one order every revoker uses) and return the token reloaded."""
    lock_refresh_family(token.family_id)  # populate_existing refreshes `token` itself: it is in the family
    return token


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


def record_code_replay(code: AuthorizationCode, *, origin: Origin) -> None:
    record_event("oauth.code_replayed", origin=origin, subject=code.user, client_id=code.client.client_id)
    count(REPLAYS, token_type="authorization_code")


def record_refresh_replay(token: RefreshToken, *, origin: Origin) -> None:
    count(REPLAYS, token_type="refresh_token")
    record_event(
        "oauth.refresh_replayed", origin=origin, subject=token.user, client_id=token.client.client_id, family=token.family_id
    )


def revoke_token_object(token: object, *, origin: Origin) -> None:
    """Revoke what the revocation endpoint found: a refresh token (its whole family) or an access JWT."""
    if isinstance(token, RefreshToken):
        revoke_refresh_family(token.family_id)
        record_event("oauth.token_revoked", origin=origin, subject=token.user, client_id=token.client.client_id, kind="refresh")
        count(REVOCATIONS, token_type="refresh_token")
        return
    claims = token.claims  # AccessTokenClaims
    deny_access_token(claims["jti"], datetime.fromtimestamp(claims["exp"], tz=UTC))
    record_event("oauth.token_revoked", origin=origin, client_id=claims.get("client_id"), kind="access", jti=claims["jti"])
    count(REVOCATIONS, token_type="access_token")


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
            **({"cnf": {"jkt": token.dpop_jkt}} if token.dpop_jkt else {}),
        }
    claims = token.claims
    payload = {key: claims[key] for key in ("scope", "client_id", "sub", "exp", "iat", "aud", "iss", "jti") if key in claims}
    # RFC 9449 6.2: a resource server learns the key a bound token needs, and that it is a DPoP token.
    payload.update(active=True, token_type="DPoP" if isinstance(claims.get("cnf"), dict) else "Bearer")
    if isinstance(claims.get("cnf"), dict):
        payload["cnf"] = claims["cnf"]
    return payload
