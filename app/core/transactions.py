"""Transactions PostgreSQL may abort under concurrency (deadlock, serialization failure), retried a bounded number of times.

Single-use artefacts are designed to lock in one order (docs: the family's refresh rows before anything else),
so a deadlock should not happen; the retry is the safety net that turns a rare abort into a second attempt
instead of a 500. Only the whole unit of work can be retried: the caller's function runs again from the start
in a fresh transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from app.extensions import db

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4

# SQLSTATE 40001 serialization_failure, 40P01 deadlock_detected (psycopg.errors.SerializationFailure / DeadlockDetected).
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


class TransactionAborted(Exception):
    """Every attempt was aborted by the database; the caller answers "try again later" (never a 500)."""


def is_retryable(error: BaseException) -> bool:
    """Whether the database aborted the transaction for a reason a plain retry can fix."""
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return sqlstate in _RETRYABLE_SQLSTATES


def run_with_retry(work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run `work` and commit; on a deadlock or serialization failure roll back and run it again.

    `work` must do all its database writes through db.session and be safe to run again from scratch.
    Raises TransactionAborted when every attempt was aborted.
    """
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            if db.session().in_transaction():
                db.session.commit()
            return result
        except DBAPIError as error:
            db.session.rollback()
            if not is_retryable(error):
                raise
            log.warning("transaction aborted (%s), attempt %d of %d", type(error.orig).__name__, attempt, attempts)
    raise TransactionAborted()
