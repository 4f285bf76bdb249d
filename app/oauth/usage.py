"""Counts machine (client-credentials) tokens per client and minute without a write per token.

Each process adds up in memory and flushes one upsert per client when the minute changes or
after a few seconds, so the token endpoint stays write-free on its hot path.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import ClientCredentialsUsage, OAuthClient

log = logging.getLogger(__name__)
FLUSH_SECONDS = 10.0


class UsageCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, datetime], int] = {}
        self._last_flush = time.monotonic()

    def add(self, client_id: int, now: datetime) -> None:
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            self._counts[(client_id, minute)] = self._counts.get((client_id, minute), 0) + 1
            due = time.monotonic() - self._last_flush >= FLUSH_SECONDS or any(m != minute for _, m in self._counts)
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._counts = self._counts, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            for (client_id, minute), count in pending.items():
                row = db.session.scalar(
                    select(ClientCredentialsUsage).where(
                        ClientCredentialsUsage.client_id == client_id, ClientCredentialsUsage.minute == minute
                    )
                )
                if row is None:
                    db.session.add(ClientCredentialsUsage(client_id=client_id, minute=minute, count=count))
                else:
                    row.count += count
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("could not store machine-token counts; %d minutes kept for the next flush", len(pending))
            with self._lock:
                for key, count in pending.items():
                    self._counts[key] = self._counts.get(key, 0) + count


def usage_counter() -> UsageCounter:
    return current_app.extensions.setdefault("idp_usage_counter", UsageCounter())


def count_machine_token(client: OAuthClient) -> None:
    usage_counter().add(client.id, datetime.now(UTC))
