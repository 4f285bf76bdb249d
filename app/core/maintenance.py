"""Housekeeping: delete the rows nothing can use any more, in short batches that are safe while serving.

Each kind of row has one rule saying when it is dead (`dead_rows`). The rules keep every row a day past
its death (GRACE): clocks of several machines may differ a little, a request that read a row just before
it died never meets it gone, and an operator looking into something that has just happened still finds it.

- Deny-list entries, live access tokens, device codes, used client assertions (jti), WebAuthn challenges,
  texted codes and email links: dead once their own ``expires_at`` has passed.
- Refresh tokens go by whole families, once every token of the family has passed its (idle or absolute)
  expiry, revoked or not. Until then each row stays, used and revoked ones included: a rotated token that
  comes back must still be recognised as a replay (RFC 9700 4.14.2), and the family's first issue time is
  what its absolute lifetime is counted from. A family's last expiry is never later than its absolute end.
- Authorization codes: past expiry and named by no refresh family still alive (the families go first).
  An expired code is never redeemable again, so a replay has nothing left to revoke through it; keeping it
  while its tokens live is what the code-replay revocation would need if that ever changed.
- Sign-in sessions: revoked, or past their idle or absolute timeout (the longer ones when kept signed in).
- Browsers and networks a person signed in from (the new-sign-in email): unused for 180 days.
- Trusted browsers (they skip the second factor at sign-in): once their ``expires_at`` has passed.
- Pushed authorization requests (RFC 9126): once their ``expires_at`` has passed, used or not (a used one
  is refused by ``used_at`` until then, and by its absence after).
- Audit events and the per-minute machine-token counts (the audit trail of client credentials) only with
  IDP_AUDIT_RETENTION_DAYS: older than that many days. Without it the trail is kept forever.
Signing keys are never deleted here: a retired key simply stops being published (app/core/keys.py).

Each batch is one DELETE of at most `batch_size` rows in its own transaction, so no lock is held for long;
on PostgreSQL rows another transaction holds are skipped (FOR UPDATE SKIP LOCKED) and left to the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, delete, exists, func, or_, select, tuple_

from app.core.audit import CLI_ORIGIN, Origin, record_event
from app.core.devices import SEEN_DEVICE_RETENTION
from app.core.sessions import SessionPolicy
from app.extensions import db
from app.models import (
    AuditEvent,
    AuthorizationCode,
    ClientCredentialsUsage,
    DeviceCode,
    EmailToken,
    LiveAccessToken,
    PushedAuthorizationRequest,
    RefreshToken,
    RevokedAccessToken,
    SeenDevice,
    SessionApp,
    SmsCode,
    TrustedBrowser,
    UsedClientAssertion,
    UsedDpopProof,
    UserSession,
    WebAuthnChallenge,
)
from app.models.base import utcnow

# At least the hour app/mfa/sms.py counts texted codes over for its sending limit: no counted row goes early.
GRACE = timedelta(days=1)
DEFAULT_BATCH_SIZE = 1000
# The kinds that go only with IDP_AUDIT_RETENTION_DAYS (absent from the counts without it).
AUDIT_KINDS = ("audit_events", "client_credentials_usage")

DeadRows = list[tuple[str, Table, ColumnElement[bool]]]


def dead_rows(config: Mapping, now: datetime) -> DeadRows:
    """(kind, table, condition) for every kind of row, in the order they are pruned."""
    cutoff = now - GRACE
    policy = SessionPolicy.from_config(config)
    # Never NULL (revoked_at may be): its negation picks the sessions that stay.
    dead_sessions = or_(
        UserSession.revoked_at.is_not(None) & (UserSession.revoked_at < cutoff), _past_limits(config, policy, cutoff)
    )
    live_sessions = select(UserSession.id).where(~dead_sessions)
    kinds: DeadRows = [
        ("access_token_deny_list", RevokedAccessToken.__table__, RevokedAccessToken.expires_at < cutoff),
        ("live_access_tokens", LiveAccessToken.__table__, LiveAccessToken.expires_at < cutoff),
        ("refresh_tokens", RefreshToken.__table__, _dead_refresh_families(cutoff)),
        ("authorization_codes", AuthorizationCode.__table__, _dead_codes(cutoff)),
        ("device_codes", DeviceCode.__table__, DeviceCode.expires_at < cutoff),
        ("client_assertions", UsedClientAssertion.__table__, UsedClientAssertion.expires_at < cutoff),
        ("dpop_proofs", UsedDpopProof.__table__, UsedDpopProof.expires_at < cutoff),
        ("webauthn_challenges", WebAuthnChallenge.__table__, WebAuthnChallenge.expires_at < cutoff),
        ("sms_codes", SmsCode.__table__, SmsCode.expires_at < cutoff),
        ("email_tokens", EmailToken.__table__, EmailToken.expires_at < cutoff),
        ("sessions", UserSession.__table__, dead_sessions),
        # The apps to tell when a session ends (back-channel logout) go with their session (a dry run counts them too).
        ("session_apps", SessionApp.__table__, SessionApp.session_id.not_in(live_sessions)),
        ("seen_devices", SeenDevice.__table__, SeenDevice.last_seen_at < cutoff - SEEN_DEVICE_RETENTION),
        ("trusted_browsers", TrustedBrowser.__table__, TrustedBrowser.expires_at < cutoff),
        (
            "pushed_authorization_requests",
            PushedAuthorizationRequest.__table__,
            PushedAuthorizationRequest.expires_at < cutoff,
        ),
    ]
    retention_start = audit_retention_start(config, now)
    if retention_start is not None:
        kinds.append(("audit_events", AuditEvent.__table__, AuditEvent.created_at < retention_start))
        kinds.append(
            ("client_credentials_usage", ClientCredentialsUsage.__table__, ClientCredentialsUsage.minute < retention_start)
        )
    return kinds


def _past_limits(config: Mapping, policy: SessionPolicy, cutoff: datetime) -> ColumnElement[bool]:
    """Past the idle or absolute limit: the configured ones, or the longer "keep me signed in" ones for a row
    that has its own (checked against the settings now, so a shortened setting prunes sooner)."""
    kept = UserSession.absolute_seconds.is_not(None)
    remember_idle, remember_absolute = config["REMEMBER_IDLE_TIMEOUT"], config["REMEMBER_ABSOLUTE_TIMEOUT"]
    return or_(
        ~kept & ((UserSession.last_seen_at < cutoff - policy.idle) | (UserSession.created_at < cutoff - policy.absolute)),
        kept & ((UserSession.last_seen_at < cutoff - remember_idle) | (UserSession.created_at < cutoff - remember_absolute)),
    )


def audit_retention_start(config: Mapping, now: datetime) -> datetime | None:
    """The oldest moment whose audit events are kept, or None when they are all kept (no retention set)."""
    days = config.get("AUDIT_RETENTION_DAYS")
    if days is None:
        return None
    if days < 1:
        raise ValueError(f"IDP_AUDIT_RETENTION_DAYS must be at least 1 day, not {days}")
    return now - timedelta(days=days)


def _family_alive(token: Table, cutoff: datetime) -> ColumnElement[bool]:
    """Some token of this row's family expires after the cutoff."""
    sibling = RefreshToken.__table__.alias(f"{token.name}_sibling")
    return exists().where(sibling.c.family_id == token.c.family_id, sibling.c.expires_at >= cutoff)


def _dead_refresh_families(cutoff: datetime) -> ColumnElement[bool]:
    token = RefreshToken.__table__
    return (token.c.expires_at < cutoff) & ~_family_alive(token, cutoff)


def _dead_codes(cutoff: datetime) -> ColumnElement[bool]:
    """Expired, and no refresh family still alive came from it (the FK sets a dead family's reference to NULL)."""
    code, token = AuthorizationCode.__table__, RefreshToken.__table__.alias("from_code")
    named_by_a_live_family = exists().where(token.c.authorization_code_id == code.c.id, _family_alive(token, cutoff))
    return (code.c.expires_at < cutoff) & ~named_by_a_live_family


def prune_expired(
    config: Mapping,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    now: datetime | None = None,
    origin: Origin = CLI_ORIGIN,
) -> dict[str, int]:
    """Delete every dead row (or only count them, dry_run); returns how many of each kind, in pruning order.

    The moment is fixed at the start, so a run ends, and a second run right after finds nothing.
    """
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    now = now or utcnow()
    counts = {}
    for kind, table, condition in dead_rows(config, now):
        counts[kind] = _count(table, condition) if dry_run else _delete_in_batches(table, condition, batch_size)
    if counts.get("audit_events"):
        # Removing part of the trail is itself worth a line in it (the new row is well inside the retention).
        record_event(
            "admin.audit_pruned", origin=origin, events=counts["audit_events"], retention_days=config["AUDIT_RETENTION_DAYS"]
        )
        db.session.commit()
    return counts


def _count(table: Table, condition: ColumnElement[bool]) -> int:
    count = db.session.scalar(select(func.count()).select_from(table).where(condition))
    db.session.rollback()  # end the read transaction: nothing is held between kinds
    return count


def _delete_in_batches(table: Table, condition: ColumnElement[bool], batch_size: int) -> int:
    deleted = 0
    while True:
        batch = _delete_batch(table, condition, batch_size)
        deleted += batch
        if batch < batch_size:
            return deleted


def _delete_batch(table: Table, condition: ColumnElement[bool], batch_size: int) -> int:
    """One short transaction: DELETE ... WHERE dead AND key IN (SELECT key ... WHERE dead LIMIT n).

    The condition is repeated outside the subquery so that PostgreSQL checks it again on a row that changed
    after the subquery read it; SKIP LOCKED leaves rows a request is working on alone (SQLite has neither).
    """
    key_columns = list(table.primary_key.columns)
    key = key_columns[0] if len(key_columns) == 1 else tuple_(*key_columns)
    batch = select(*key_columns).where(condition).limit(batch_size).with_for_update(skip_locked=True).correlate(None)
    result = db.session.execute(delete(table).where(condition, key.in_(batch)))
    db.session.commit()
    return result.rowcount
