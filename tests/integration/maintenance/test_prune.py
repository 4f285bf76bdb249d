"""`flask maintenance prune`: exactly the dead rows of every kind go, in batches, and a second run finds nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import Table, select

from app.core.devices import SEEN_DEVICE_RETENTION
from app.core.maintenance import GRACE, prune_expired
from app.extensions import db
from app.models import (
    AuditEvent,
    ClientCredentialsUsage,
    PushedAuthorizationRequest,
    RevokedAccessToken,
    SessionApp,
    UsedDpopProof,
)
from app.models.base import utcnow
from tests.conftest import audit_types, statements_recorded
from tests.integration.maintenance import rows
from tests.integration.maintenance.rows import key_of, keys_of

# Times relative to the run: dead for a while, dead only within the grace (kept), and still live.
LONG_DEAD = GRACE + timedelta(hours=1)
RECENTLY_DEAD = timedelta(hours=1)
LIVE = -timedelta(minutes=10)


@dataclass
class Kind:
    table: Table
    dead: set[tuple] = field(default_factory=set)
    kept: set[tuple] = field(default_factory=set)


class World:
    """Dead and kept rows of every kind, with the keys each is expected to have after a prune."""

    def __init__(self, user, client) -> None:
        self.user, self.client, self.now = user, client, utcnow()
        self.kinds: dict[str, Kind] = {}

    def ago(self, age: timedelta):
        return self.now - age

    def add(self, kind: str, row, *, dead: bool) -> None:
        db.session.add(row)
        entry = self.kinds.setdefault(kind, Kind(row.__table__))
        (entry.dead if dead else entry.kept).add(key_of(row))

    def add_expiring(self, kind: str, build) -> None:
        """One row long expired (dead), one expired within the grace and one live (both kept)."""
        for age, dead in ((LONG_DEAD, True), (RECENTLY_DEAD, False), (LIVE, False)):
            self.add(kind, build(self.ago(age)), dead=dead)

    def expected_counts(self) -> dict[str, int]:
        return {kind: len(entry.dead) for kind, entry in self.kinds.items()}

    def assert_only_kept_rows_remain(self) -> None:
        for kind, entry in self.kinds.items():
            remaining = keys_of(entry.table)
            assert entry.kept <= remaining, f"{kind}: a row that must stay was deleted"
            assert not entry.dead & remaining, f"{kind}: a dead row is still there"


@pytest.fixture
def world(app, create_user) -> World:
    world = World(create_user(), rows.make_client())
    user, client = world.user, world.client
    world.add_expiring("access_token_deny_list", rows.deny_listed)
    world.add_expiring("live_access_tokens", lambda at: rows.live_token(user, client, at))
    world.add_expiring("device_codes", lambda at: rows.device_code(client, at))
    world.add_expiring("client_assertions", lambda at: rows.client_assertion(client, at))
    world.add_expiring("dpop_proofs", lambda at: UsedDpopProof(jti_digest=rows.unique() * 2, expires_at=at))
    world.add_expiring("webauthn_challenges", lambda at: rows.webauthn_challenge(user, at))
    world.add_expiring("sms_codes", lambda at: rows.sms_code(user, at))
    world.add_expiring("email_tokens", lambda at: rows.email_token(user, at))
    _add_refresh_families_and_codes(world)
    _add_sessions(world, app.config["SESSION_IDLE_TIMEOUT"], app.config["SESSION_ABSOLUTE_TIMEOUT"])
    # A browser and network last used 180 days ago (the retention) expire then, plus the grace.
    world.add_expiring("seen_devices", lambda at: rows.seen_device(user, at - SEEN_DEVICE_RETENTION))
    world.add_expiring("trusted_browsers", lambda at: rows.trusted_browser(user, at))
    world.add_expiring("pushed_authorization_requests", lambda at: _pushed_request(client, at))
    db.session.commit()
    return world


def _pushed_request(client, expires_at) -> PushedAuthorizationRequest:
    return PushedAuthorizationRequest(
        digest=rows.unique(), client_id=client.id, parameters=[["scope", "openid"]], expires_at=expires_at
    )


def _add_refresh_families_and_codes(world: World) -> None:
    user, client, ago = world.user, world.client, world.ago
    # A family goes only whole, once its last token is past expiry (and the grace), revoked or not.
    dead_family = rows.refresh_family(user, client, ago(LONG_DEAD * 2), ago(LONG_DEAD), used_at=ago(LONG_DEAD * 3))
    rotated_but_alive = rows.refresh_family(user, client, ago(LONG_DEAD), ago(LIVE))  # the old row catches a replay
    revoked_not_yet_expired = rows.refresh_family(user, client, ago(LONG_DEAD), ago(LIVE), revoked_at=ago(LONG_DEAD))
    within_grace = rows.refresh_family(user, client, ago(LONG_DEAD), ago(RECENTLY_DEAD))
    for row in dead_family:
        world.add("refresh_tokens", row, dead=True)
    for row in rotated_but_alive + revoked_not_yet_expired + within_grace:
        world.add("refresh_tokens", row, dead=False)
    # Codes: expired ones go once no refresh token names them any more (dead families go first).
    alone, of_dead_family, of_live_family = (rows.authorization_code(user, client, ago(LONG_DEAD)) for _ in range(3))
    for code in (alone, of_dead_family, of_live_family):
        db.session.add(code)
    db.session.flush()
    dead_family[0].authorization_code_id = of_dead_family.id
    rotated_but_alive[0].authorization_code_id = of_live_family.id
    world.add("authorization_codes", alone, dead=True)
    world.add("authorization_codes", of_dead_family, dead=True)
    world.add("authorization_codes", of_live_family, dead=False)
    world.add("authorization_codes", rows.authorization_code(user, client, ago(RECENTLY_DEAD)), dead=False)
    world.add("authorization_codes", rows.authorization_code(user, client, ago(LIVE)), dead=False)


def _add_sessions(world: World, idle: timedelta, absolute: timedelta) -> None:
    user, ago = world.user, world.ago
    fresh = ago(timedelta(minutes=5))
    for created, seen, revoked, dead in (
        (ago(LONG_DEAD), ago(LONG_DEAD), ago(LONG_DEAD), True),  # signed out long ago
        (fresh, fresh, ago(RECENTLY_DEAD), False),  # signed out within the grace
        (ago(idle + LONG_DEAD), ago(idle + LONG_DEAD), None, True),  # idle for too long
        (ago(idle + RECENTLY_DEAD), ago(idle + RECENTLY_DEAD), None, False),  # idle-expired within the grace
        (ago(absolute + LONG_DEAD), fresh, None, True),  # active, but past the absolute lifetime
        (ago(absolute), fresh, None, False),  # past the absolute lifetime within the grace
        (fresh, fresh, None, False),  # live
    ):
        session = rows.user_session(user, created_at=created, last_seen_at=seen, revoked_at=revoked)
        world.add("sessions", session, dead=dead)
        # The apps a session signed in to (back-channel logout) go with the session's row, in the same run.
        world.add("session_apps", SessionApp(session_id=session.id, client_id=world.client.id), dead=dead)
    world.add("session_apps", SessionApp(session_id=rows.unique()[:32], client_id=world.client.id), dead=True)


def test_prune_deletes_exactly_the_dead_rows_of_every_kind_and_nothing_on_a_second_run(app, world):
    counts = prune_expired(app.config)

    assert counts == world.expected_counts()
    assert all(count > 0 for count in counts.values())
    world.assert_only_kept_rows_remain()
    assert set(prune_expired(app.config).values()) == {0}
    world.assert_only_kept_rows_remain()


def test_the_cli_prints_one_line_per_kind_and_the_total(app, world):
    runner = app.test_cli_runner()

    result = runner.invoke(args=["maintenance", "prune"])

    assert result.exit_code == 0, result.output
    expected = world.expected_counts()
    lines = result.output.splitlines()
    for kind, count in expected.items():
        assert f"{kind}: {count}" in lines
    assert "audit_events: kept (IDP_AUDIT_RETENTION_DAYS is not set)" in lines
    assert lines[-1] == f"total: {sum(expected.values())}"
    world.assert_only_kept_rows_remain()
    again = runner.invoke(args=["maintenance", "prune"])
    assert again.exit_code == 0 and again.output.splitlines()[-1] == "total: 0"


def test_a_dry_run_counts_and_deletes_nothing(app, world):
    before = {kind: keys_of(entry.table) for kind, entry in world.kinds.items()}

    result = app.test_cli_runner().invoke(args=["maintenance", "prune", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"total: {sum(world.expected_counts().values())} (dry run: nothing deleted)"
    assert {kind: keys_of(entry.table) for kind, entry in world.kinds.items()} == before


def test_rows_go_in_batches_of_the_given_size(app):
    long_ago = utcnow() - LONG_DEAD
    db.session.add_all(rows.deny_listed(long_ago) for _ in range(5))
    db.session.commit()
    table = RevokedAccessToken.__tablename__

    with statements_recorded("DELETE") as statements:
        result = app.test_cli_runner().invoke(args=["maintenance", "prune", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "access_token_deny_list: 5" in result.output.splitlines()
    assert sum(statement.startswith(f"DELETE FROM {table} ") for statement in statements) == 3  # 2 + 2 + 1
    assert keys_of(RevokedAccessToken.__table__) == set()


@pytest.mark.parametrize("size", ["0", "-1", "many"])
def test_a_batch_size_below_one_is_refused(app, size):
    result = app.test_cli_runner().invoke(args=["maintenance", "prune", "--batch-size", size])

    assert result.exit_code == 2
    assert "Invalid value for '--batch-size'" in result.output


def _old_and_recent_history(client) -> None:
    now = utcnow()
    for days in (31, 29):
        db.session.add(rows.audit_event(now - timedelta(days=days)))
        db.session.add(rows.machine_usage(client, now - timedelta(days=days)))
    db.session.commit()


def test_audit_events_are_kept_forever_by_default(app):
    _old_and_recent_history(rows.make_client())

    counts = prune_expired(app.config)

    assert "audit_events" not in counts and "client_credentials_usage" not in counts
    assert len(keys_of(AuditEvent.__table__)) == 2
    assert len(keys_of(ClientCredentialsUsage.__table__)) == 2


def test_with_a_retention_older_audit_events_and_machine_token_counts_go(app_factory):
    app = app_factory(AUDIT_RETENTION_DAYS=30)
    with app.app_context():
        _old_and_recent_history(rows.make_client())

        result = app.test_cli_runner().invoke(args=["maintenance", "prune"])

        assert result.exit_code == 0, result.output
        assert {"audit_events: 1", "client_credentials_usage: 1"} <= set(result.output.splitlines())
        ages = [utcnow() - created for created in db.session.scalars(select(AuditEvent.created_at))]
        assert all(age < timedelta(days=30) for age in ages)
        assert audit_types() == ["auth.login", "admin.audit_pruned"]  # the pruning itself is on the trail
        minutes = list(db.session.scalars(select(ClientCredentialsUsage.minute)))
        assert len(minutes) == 1 and utcnow() - minutes[0] < timedelta(days=30)
        again = app.test_cli_runner().invoke(args=["maintenance", "prune"])
        assert again.output.splitlines()[-1] == "total: 0"


def test_a_retention_below_one_day_is_refused(app_factory):
    app = app_factory(AUDIT_RETENTION_DAYS=0)
    with app.app_context():
        db.session.add(rows.audit_event(utcnow() - timedelta(days=400)))
        db.session.commit()

        result = app.test_cli_runner().invoke(args=["maintenance", "prune"])

        assert result.exit_code == 2
        assert "IDP_AUDIT_RETENTION_DAYS must be at least 1 day" in result.output
        assert len(keys_of(AuditEvent.__table__)) == 1
