"""OIDC Back-Channel Logout 1.0: apps are told, server to server, when a session here ends.

An app with a `backchannel_logout_uri` that received an ID token in a session is remembered for that
session (SessionApp, written where the ID token is issued). Whatever ends the session (sign-out,
RP-initiated logout, the sessions page, the console, a password change, disabling or deleting the
account) queues one PendingLogout per such app in the same transaction. A worker
(app/core/logout_delivery.py) delivers them after the commit, so nobody waits for an app's server.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime

from flask import current_app
from joserfc import jwt
from sqlalchemy import delete, select

from app.core.inserts import insert_ignoring_duplicates
from app.core.jwts import subject_of
from app.core.keys import keyring
from app.core.response_encryption import encrypt_id_token
from app.extensions import db
from app.models import OAuthClient, PendingLogout, SessionApp, User, UserSession
from app.models.base import utcnow

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # section 2.4 explicit typing: never mistaken for an ID or access token
LOGOUT_TOKEN_SECONDS = 120  # section 2.4 recommends at most two minutes
SESSION_QUEUED = "logout_queued"  # db.session.info flag: the worker is woken after the commit


def remember_app(session_id: str | None, client: OAuthClient) -> None:
    """The client got an ID token in this session: tell it when the session ends (if it asked to be told)."""
    if not session_id or not client.backchannel_logout_uri:
        return
    table = SessionApp.__table__
    insert_ignoring_duplicates(
        table, {"session_id": session_id, "client_id": client.id, "created_at": utcnow()}, [table.c.session_id, table.c.client_id]
    )


def queue_logouts(session_ids: Collection[str], *, reason: str) -> int:
    """Owe a logout token to each app signed in through these sessions; the caller's transaction keeps them.

    Returns how many were queued. The sessions' app list is spent: each app is told once.
    """
    if not session_ids:
        return 0
    found = db.session.execute(
        select(SessionApp.session_id, OAuthClient, User)
        .join(OAuthClient, OAuthClient.id == SessionApp.client_id)
        .join(UserSession, UserSession.id == SessionApp.session_id)
        .join(User, User.id == UserSession.user_id)
        .where(SessionApp.session_id.in_(list(session_ids)))
    ).all()
    now = utcnow()
    queued = 0
    for session_id, client, user in found:
        if client.backchannel_logout_uri and not client.is_disabled:
            db.session.add(_pending(client, user, session_id, reason, now))
            queued += 1
    db.session.execute(
        delete(SessionApp).where(SessionApp.session_id.in_(list(session_ids))), execution_options={"synchronize_session": False}
    )
    if queued:
        db.session.info[SESSION_QUEUED] = True
    return queued


def _pending(client: OAuthClient, user: User, session_id: str, reason: str, now: datetime) -> PendingLogout:
    return PendingLogout(
        client_id=client.id,
        user_id=user.id,
        subject=subject_of(user),
        session_id=session_id,
        reason=reason,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )


def logout_token(pending: PendingLogout) -> str:
    """Section 2.4: iss, aud, iat, exp, jti, events, sub and sid; never a nonce. Signed like the app's ID
    tokens, and encrypted like them when the app registered ID token encryption."""
    client = pending.client
    now = int(utcnow().timestamp())
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_SECONDS,
        "jti": secrets.token_urlsafe(24),
        "events": {LOGOUT_EVENT: {}},
        "sub": pending.subject,
    }
    if pending.session_id:
        claims["sid"] = pending.session_id
    signing = keyring().signing_key("RS256")
    signed = jwt.encode({"alg": "RS256", "kid": signing.kid, "typ": LOGOUT_TOKEN_TYPE}, claims, signing.key)
    return encrypt_id_token(client, signed)
