"""Pushed authorization requests (RFC 9126): storing a pushed request, finding it by its request_uri, using it once.

The request_uri is ``urn:ietf:params:oauth:request_uri:<random>``; only the SHA-256 of the random part is
stored, so a database read gives nobody a usable request_uri. A request_uri must reach /oauth/authorize
within IDP_PAR_SECONDS (``expires_in``). From that first arrival the person may take up to OPENED_LIFETIME
to sign in, prove a second factor and answer the consent page: the request_uri rides along through those
pages, and is spent (``used_at``, one conditional UPDATE) when the authorization response is issued.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.extensions import db
from app.models import OAuthClient, PushedAuthorizationRequest
from app.models.base import utcnow
from app.security import new_token, token_digest

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
# Enough for a sign-in with a second factor, a password reset or an email confirmation in between.
OPENED_LIFETIME = timedelta(minutes=30)
_MAX_RANDOM_LENGTH = 128


@dataclass(frozen=True)
class Pushed:
    """A pushed request found valid for this client: its row id and its parameters, in the order pushed."""

    id: int
    parameters: list[tuple[str, str]]
    opened_at: datetime | None


def push_request(client: OAuthClient, parameters: list[tuple[str, str]], *, lifetime: int) -> str:
    """Store the (already validated) parameters; returns the request_uri. The caller commits."""
    random_part = new_token()
    now = utcnow()
    db.session.add(
        PushedAuthorizationRequest(
            digest=token_digest(random_part),
            client_id=client.id,
            parameters=[[name, value] for name, value in parameters],
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    return REQUEST_URI_PREFIX + random_part


def find_pushed(request_uri: str | None, client: OAuthClient) -> Pushed | None:
    """The client's unexpired, unused pushed request named by request_uri; None for anything else.

    One answer for unknown, malformed, expired, used and another client's: the front channel learns nothing.
    """
    if not request_uri or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    random_part = request_uri[len(REQUEST_URI_PREFIX) :]
    if not random_part or len(random_part) > _MAX_RANDOM_LENGTH:
        return None
    row = db.session.scalar(
        select(PushedAuthorizationRequest).where(PushedAuthorizationRequest.digest == token_digest(random_part))
    )
    if row is None or row.client_id != client.id or row.used_at is not None or utcnow() >= row.expires_at:
        return None
    return Pushed(row.id, [(name, value) for name, value in row.parameters], row.opened_at)


def open_pushed(pushed: Pushed) -> Pushed:
    """At the first arrival, give the person OPENED_LIFETIME to finish (the caller commits)."""
    if pushed.opened_at is not None:
        return pushed
    now = utcnow()
    db.session.execute(
        update(PushedAuthorizationRequest)
        .where(
            PushedAuthorizationRequest.id == pushed.id,
            PushedAuthorizationRequest.opened_at.is_(None),
            PushedAuthorizationRequest.expires_at > now,
        )
        .values(opened_at=now, expires_at=now + OPENED_LIFETIME)
    )
    return replace(pushed, opened_at=now)


def consume_pushed(pushed: Pushed) -> bool:
    """Spend the request_uri with one conditional UPDATE: of parallel uses exactly one wins (the caller commits)."""
    now = utcnow()
    result = db.session.execute(
        update(PushedAuthorizationRequest)
        .where(
            PushedAuthorizationRequest.id == pushed.id,
            PushedAuthorizationRequest.used_at.is_(None),
            PushedAuthorizationRequest.expires_at > now,
        )
        .values(used_at=now)
    )
    return result.rowcount == 1
