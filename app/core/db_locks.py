"""PostgreSQL advisory locks that end with their transaction, so they hold behind a transaction pooler too.

A session-level lock (pg_advisory_lock) belongs to one server connection; behind PgBouncer in transaction
mode the next statement may run on another one, so the lock could be released by nobody, or by someone
else's work. A transaction-scoped lock (pg_advisory_xact_lock) ends with COMMIT or ROLLBACK, on whatever
server connection it was taken. SQLite has no such lock and needs none: one machine, one writer at a time.
"""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db

# Fixed 64-bit keys, one per kind of work; the bytes spell what they guard.
MIGRATION_LOCK = 0x6964705F70726570  # "idp_prep": Alembic's upgrade transaction (migrations/env.py)
KEYS_LOCK = 0x6964705F6B657973  # "idp_keys": key changes decided from what the table holds now


def _is_postgresql(bind) -> bool:
    return bind.dialect.name == "postgresql"


def lock_transaction(key: int) -> None:
    """Wait for the lock inside the session's current transaction; the caller's commit or rollback releases it."""
    if _is_postgresql(db.session.get_bind()):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
