"""`flask prepare`: migrate the database to the current schema, then make sure signing keys exist.

Replicas or a Job starting together may all run it. Under one advisory lock the first migrates and makes
the keys while the others wait; each of those then finds the schema current and the keys present, and
does nothing. The lock's transaction is held on a connection of its own around Alembic's own transaction
(db_locks.locked_beside), so it works behind a transaction pooler too; that transaction sits idle while the
migrations run, so a server's idle_in_transaction_session_timeout (or PgBouncer's idle_transaction_timeout)
must outlast the longest migration. SQLite takes no lock: it lives on one machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alembic.migration import MigrationContext

from app.core.db_locks import PREPARE_LOCK, locked_beside
from app.core.keys import ensure_keys
from app.extensions import db
from app.models import SigningKey


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
    """Run `upgrade` (Alembic to head), then create missing signing keys, all under the prepare lock."""
    with locked_beside(PREPARE_LOCK):
        before = schema_revision()
        upgrade()
        after = schema_revision()
        created = ensure_keys()
        db.session.commit()
    return Prepared(before, after, created)


def schema_revision() -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
