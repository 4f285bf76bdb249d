"""Delivering back-channel logout tokens (OIDC Back-Channel Logout 1.0 section 2.5), after the request.

`deliver_due` sends every PendingLogout that is due: one POST each, with a time limit, no redirects
followed. A 200 or 204 is delivered; a 4xx is the app refusing the token, final; anything else
(a timeout, a refused connection, a 5xx) is tried again later, up to len(RETRY_DELAYS) more times.
Each result is audited. Two workers never send the same row: taking one moves its due time past
the attempt (a lease), in one conditional UPDATE that only one of them can win.

Self-registered apps (dynamic registration, metadata documents) named their URI themselves, so it is
reached only at public addresses (app/core/outbound.py); an operator's client may point anywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from flask import current_app
from sqlalchemy import delete, select, update
from urllib3.exceptions import HTTPError

from app.core.audit import Origin, record_event
from app.core.backchannel_logout import logout_token
from app.core.outbound import OutboundRefused, pinned_pool, vetted_address
from app.extensions import db
from app.models import PendingLogout, User
from app.models.base import utcnow

log = logging.getLogger(__name__)

RETRY_DELAYS = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
BATCH = 20
WORKER_ORIGIN = Origin(ip_address=None, user_agent="logout-worker")


@dataclass(frozen=True)
class Attempt:
    """What one attempt needs, read before the POST so no database transaction waits on an app's server."""

    row_id: int
    client_id: str
    uri: str | None
    self_registered: bool  # dynamic registration or a metadata document: it named its own URI
    body: str
    attempt: int
    audit: dict  # session_id and reason
    user_id: int | None


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    final: bool  # no retry: delivered, or refused in a way a retry can't change
    detail: str  # for the audit log: the status or the failure's kind, never the token


def deliver_due(now: datetime | None = None) -> int:
    """Send everything due by `now`, BATCH rows at a time; returns how many were delivered. Commits each step."""
    now = now or utcnow()
    delivered = 0
    while due := _due(now):
        for row_id in due:
            attempt = _take(row_id, now)
            if attempt is None:
                continue  # another worker has it
            outcome = _post(attempt)
            _settle(attempt, outcome, now)
            db.session.commit()
            delivered += outcome.delivered
    return delivered


def _due(now: datetime) -> list[int]:
    """Rows due by `now`; one taken or settled is due later (or gone), so the loop above ends."""
    due = db.session.scalars(
        select(PendingLogout.id).where(PendingLogout.next_attempt_at <= now).order_by(PendingLogout.next_attempt_at).limit(BATCH)
    ).all()
    db.session.commit()
    return list(due)


def _take(row_id: int, now: datetime) -> Attempt | None:
    """Lease the row for this attempt, committed before the slow part so nobody else sends it meanwhile."""
    lease = now + timedelta(seconds=2 * current_app.config["BACKCHANNEL_LOGOUT_TIMEOUT"] + 30)
    taken = db.session.execute(
        update(PendingLogout)
        .where(PendingLogout.id == row_id, PendingLogout.next_attempt_at <= now)
        .values(next_attempt_at=lease, attempts=PendingLogout.attempts + 1),
        execution_options={"synchronize_session": False},
    ).rowcount
    pending = db.session.get(PendingLogout, row_id, populate_existing=True) if taken == 1 else None
    attempt = None
    if pending is not None:
        client = pending.client
        attempt = Attempt(
            row_id,
            client.client_id,
            None if client.is_disabled else client.backchannel_logout_uri,
            client.is_dynamically_registered or client.is_metadata_document,
            urlencode({"logout_token": logout_token(pending)}),
            pending.attempts,
            {"session_id": pending.session_id, "reason": pending.reason},
            pending.user_id,
        )
    db.session.commit()
    return attempt


def _post(attempt: Attempt) -> Outcome:
    if not attempt.uri:
        return Outcome(False, True, "no longer registered")
    parts = urlsplit(attempt.uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = vetted_address(parts.hostname or "", port, allow_loopback=False) if attempt.self_registered else parts.hostname
    except OutboundRefused as refused:
        return Outcome(False, True, str(refused))
    pool = pinned_pool(parts, address or "", port, timeout=current_app.config["BACKCHANNEL_LOGOUT_TIMEOUT"])
    try:
        response = pool.urlopen(
            "POST",
            parts.path + (f"?{parts.query}" if parts.query else "") or "/",
            body=attempt.body,
            headers={"Host": parts.netloc, "Content-Type": "application/x-www-form-urlencoded"},
            redirect=False,
            retries=False,
            assert_same_host=False,
        )
    except (HTTPError, OSError, ValueError) as exc:  # timeouts, refused connections, TLS failures
        return Outcome(False, False, exc.__class__.__name__)
    finally:
        pool.close()
    status = response.status
    # 200 (or 204, which some frameworks send for it) is success; a 4xx is the app refusing this token.
    return Outcome(status in (200, 204), status in (200, 204) or 400 <= status < 500, f"HTTP {status}")


def _settle(attempt: Attempt, outcome: Outcome, now: datetime) -> None:
    final = outcome.final or attempt.attempt > len(RETRY_DELAYS)
    retry_at = None if final else now + RETRY_DELAYS[attempt.attempt - 1]
    details = {"client_id": attempt.client_id, **attempt.audit, "attempt": attempt.attempt, "result": outcome.detail}
    subject = db.session.get(User, attempt.user_id) if attempt.user_id else None
    if outcome.delivered:
        record_event("oauth.backchannel_logout_delivered", origin=WORKER_ORIGIN, subject=subject, **details)
    else:
        when = {"retry_at": retry_at.isoformat()} if retry_at else {"gave_up": True}
        record_event("oauth.backchannel_logout_failed", origin=WORKER_ORIGIN, subject=subject, **details, **when)
        log.warning("back-channel logout to %s failed (attempt %d): %s", attempt.client_id, attempt.attempt, outcome.detail)
    changes = update(PendingLogout).values(next_attempt_at=retry_at) if retry_at else delete(PendingLogout)
    db.session.execute(changes.where(PendingLogout.id == attempt.row_id), execution_options={"synchronize_session": False})
