"""`flask prepare`: migrate the database to the current schema, then make sure signing keys exist.

Replicas or a Job starting together may all run it. Alembic's upgrade takes a transaction-scoped advisory
lock first (migrations/env.py): the first runner migrates while the others wait, then find the schema at
head and do nothing. ensure_keys takes its own lock (db_locks.KEYS_LOCK), so exactly one key per algorithm
is made. Each lock lives in one transaction on one connection, so this works behind PgBouncer's
transaction pooling with any pool size. SQLite takes no lock: it lives on one machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alembic.migration import MigrationContext
from flask import current_app

from app.core.keys import ensure_keys
from app.extensions import db
from app.models import SigningKey

# Where the migrations applied by the running `prepare` are noted (current_app.extensions).
_APPLIED = "idp_applied_migrations"


@dataclass(frozen=True)
class Prepared:
    revision_before: str | None  # None: an empty database
    revision_after: str | None
    created_keys: list[SigningKey]

    def describe(self) -> list[str]:
        if self.revision_before == self.revision_after:
            lines = [f"schema already at revision {self.revision_after}"]
        else:
            lines = [f"schema migrated from revision {self.revision_before or '(empty)'} to {self.revision_after}"]
        lines += [f"new {key.algorithm} key {key.kid}" for key in self.created_keys] or ["signing keys present"]
        return lines


def prepare(upgrade: Callable[[], None]) -> Prepared:
    """Run `upgrade` (Alembic to head, under its lock), then create missing signing keys (under theirs).

    What is reported is what this runner's Alembic applied, not a comparison of revisions read outside the
    lock: a runner that waited while another migrated says "already at", as it did nothing.
    """
    applied = current_app.extensions[_APPLIED] = []
    upgrade()
    after = schema_revision()
    before = (applied[0].down_revision_ids or (None,))[0] if applied else after
    created = ensure_keys()
    db.session.commit()
    return Prepared(before, after, created)


def remember_applied_migration(ctx, step, heads, run_args) -> None:
    """Alembic's on_version_apply callback (migrations/env.py): note each migration this process applies."""
    applied = current_app.extensions.get(_APPLIED)
    if applied is not None and step.is_upgrade:
        applied.append(step)


def schema_revision() -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
