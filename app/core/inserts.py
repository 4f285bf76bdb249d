"""Inserts a parallel request may have made first: one row wins, the others change nothing and raise nothing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.extensions import db

# The databases this IdP runs on answer a duplicate key in the statement itself (ON CONFLICT DO NOTHING).
_ON_CONFLICT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_ignoring_duplicates(table: Table, values: dict[str, object], key: Sequence[Column]) -> bool:
    """Insert the row unless one with the same unique `key` exists; True when this call inserted it."""
    on_conflict_insert = _ON_CONFLICT_INSERTS.get(db.session.get_bind().dialect.name)
    if on_conflict_insert is not None:
        statement = on_conflict_insert(table).values(**values).on_conflict_do_nothing(index_elements=list(key))
        return db.session.execute(statement.returning(*key)).first() is not None
    try:  # any other database: its unique key refuses the loser, inside a savepoint so the transaction lives on
        with db.session.begin_nested():
            db.session.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True
