"""Revocation: deny-listing access tokens, ending refresh families, and "everything this person or client holds"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update

from app.core import deny_list
from app.extensions import db
from app.models import (
    AuthorizationCode,
    DeviceCode,
    DeviceCodeStatus,
    LiveAccessToken,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
    User,
)
from app.models.base import utcnow


def deny_access_token(jti: str, expires_at: datetime) -> None:
    """Put a jti on the deny-list until the token would have expired; a repeat (or a parallel revocation) is harmless."""
    if expires_at <= utcnow():
        return
    deny_list.deny(jti, expires_at)  # INSERT ... ON CONFLICT DO NOTHING


def prune_deny_list() -> int:
    return db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= utcnow())).rowcount


def prune_live_access_tokens() -> int:
    """Forget access tokens that have expired: nothing is left to revoke."""
    return db.session.execute(delete(LiveAccessToken).where(LiveAccessToken.expires_at <= utcnow())).rowcount


def lock_refresh_family(family_id: str) -> list[RefreshToken]:
    """Lock every refresh token of a family (SELECT ... FOR UPDATE, ordered by id) and return them fresh.

    The lock order every path follows: the family's refresh rows first, in id order, before the deny-list or
    anything else is written. Rotation, replay detection and revocation of one family then queue behind one
    another instead of deadlocking (SQLite, one writer at a time, ignores FOR UPDATE).
    """
    query = (
        select(RefreshToken)
        .where(RefreshToken.family_id == family_id)
        .order_by(RefreshToken.id)
        .with_for_update(of=RefreshToken)
        .execution_options(populate_existing=True)
    )
    return list(db.session.scalars(query))


def revoke_refresh_family(family_id: str) -> int:
    """Revoke every refresh token of a family and deny-list the access tokens issued beside them."""
    now = utcnow()
    rows = lock_refresh_family(family_id)
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
    db.session.flush()
    for row in rows:
        if row.access_token_jti and row.access_token_expires_at:
            deny_access_token(row.access_token_jti, row.access_token_expires_at)
    return len(rows)


def revoke_tokens_from_code(code: AuthorizationCode) -> None:
    """A code redeemed twice was stolen or replayed: everything it produced dies (OAuth 2.1 4.1.3).

    The caller holds the code row's lock (lock_code); the families go next, the code's own access token last.
    """
    families = db.session.scalars(
        select(RefreshToken.family_id)
        .where(RefreshToken.authorization_code_id == code.id)
        .distinct()
        .order_by(RefreshToken.family_id)
    )
    for family_id in list(families):
        revoke_refresh_family(family_id)
    if code.access_token_jti and code.access_token_expires_at:
        deny_access_token(code.access_token_jti, code.access_token_expires_at)


def revoke_client_tokens(client: OAuthClient) -> None:
    """Before a client is deleted or disabled: every refresh family and live access token it holds dies."""
    families = db.session.scalars(select(RefreshToken.family_id).where(RefreshToken.client_id == client.id).distinct())
    for family_id in sorted(families):  # families in one order, like every other revoker
        revoke_refresh_family(family_id)
    _deny_live_rows(LiveAccessToken.client_id == client.id)


def revoke_user_tokens(user: User, *, session_id: str | None = None) -> int:
    """End the user's refresh families (all, or those issued in one session) and their access tokens.

    For all of them (disable, reset, deletion, an admin's revoke), access tokens issued without a
    refresh token beside them are deny-listed too, and uncollected device approvals denied.
    """
    query = select(RefreshToken.family_id).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
    if session_id is not None:
        query = query.where(RefreshToken.session_id == session_id)
    families = sorted(db.session.scalars(query.distinct()))  # families in one order, like every other revoker
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


def deny_live_access_tokens(user_id: int, *, client_id: int | None = None) -> None:
    """Deny-list every access token of the user (at one client, if given) that may still be live.

    Every token issued to a person has a live-token row, those without a refresh token beside them
    (a code or device approval without offline access) included. The audit log is history, not state.
    """
    conditions = [LiveAccessToken.user_id == user_id]
    if client_id is not None:
        conditions.append(LiveAccessToken.client_id == client_id)
    _deny_live_rows(*conditions)


def _deny_live_rows(*conditions: ColumnElement[bool]) -> None:
    rows = db.session.execute(
        select(LiveAccessToken.jti, LiveAccessToken.expires_at)
        .where(
            *conditions,
            LiveAccessToken.expires_at > utcnow(),
            LiveAccessToken.jti.not_in(select(RevokedAccessToken.jti)),  # denied already (a repeat revocation)
        )
        .order_by(LiveAccessToken.jti)  # one insert order for every revoker
    )
    for jti, expires_at in list(rows):
        deny_access_token(jti, expires_at)


def delete_client_and_grants(client: OAuthClient) -> None:
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
