"""The operator's audit log: filter every event, a page at a time, and export the filtered set."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from app.admin.sorting import Sort, SortableColumns
from app.core.audit import EVENT_LABELS
from app.core.paging import Page, page_offset
from app.extensions import db
from app.models import AuditEvent, User

PAGE_SIZE = 50
# An export streams: rows are read from the database this many at a time and written out as they come,
# so a whole year of events needs no more memory than one batch.
EXPORT_BATCH = 1000
EXPORT_FIELDS = ("id", "created_at", "event_type", "actor", "subject", "client_id", "ip_address", "user_agent", "details")
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_Actor = aliased(User, name="actor")
_Subject = aliased(User, name="subject")


@dataclass(frozen=True)
class AuditFilter:
    """What the operator asked for; empty fields do not filter. Dates are whole UTC days, both inclusive."""

    event_type: str | None = None
    actor_email: str | None = None
    subject_email: str | None = None
    client_id: str | None = None
    ip_address: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor_email: str | None
    subject_email: str | None

    @property
    def client_id(self) -> str | None:
        details = self.event.details if isinstance(self.event.details, dict) else {}
        value = details.get("client_id")
        return None if value is None else str(value)


def known_event_types() -> list[str]:
    """Every labelled type plus any type already in the log (older or newer code may have written others)."""
    stored = db.session.scalars(select(AuditEvent.event_type).distinct())
    return sorted(set(EVENT_LABELS) | set(stored))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _filtered(audit_filter: AuditFilter) -> Select:
    query = (
        select(AuditEvent, _Actor.email, _Subject.email)
        .outerjoin(_Actor, AuditEvent.actor_user_id == _Actor.id)
        .outerjoin(_Subject, AuditEvent.subject_user_id == _Subject.id)
    )
    f = audit_filter
    if f.event_type:
        query = query.where(AuditEvent.event_type == f.event_type)
    if f.actor_email:
        query = query.where(func.lower(_Actor.email) == f.actor_email.lower())
    if f.subject_email:
        query = query.where(func.lower(_Subject.email) == f.subject_email.lower())
    if f.client_id:
        # JSON path access: json_extract on SQLite, ->> on PostgreSQL.
        query = query.where(AuditEvent.details["client_id"].as_string() == f.client_id)
    if f.ip_address:
        query = query.where(AuditEvent.ip_address == f.ip_address)
    if f.date_from:
        query = query.where(AuditEvent.created_at >= day_start(f.date_from))
    if f.date_to:
        query = query.where(AuditEvent.created_at < day_start(f.date_to + timedelta(days=1)))
    return query


# The page lists newest first; "time" ascending reads the trail in the order it happened.
AUDIT_SORTS = SortableColumns(
    {"time": AuditEvent.created_at}, default=Sort("time", descending=True), newest_first=frozenset({"time"})
)


def _newest_first(query: Select) -> Select:
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def _rows(results: Iterable[Any]) -> list[AuditRow]:
    return [AuditRow(event, actor, subject) for event, actor, subject in results]


def audit_page(audit_filter: AuditFilter, page: int, sort: Sort = AUDIT_SORTS.default) -> Page[AuditRow] | None:
    """Page ``page`` (1-based) of the matching events in ``sort``'s order; None when there is no such page."""
    base = _filtered(audit_filter)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    offset = page_offset(total, page, PAGE_SIZE)
    if offset is None:
        return None
    results = db.session.execute(AUDIT_SORTS.apply(base, sort, AuditEvent.id).offset(offset).limit(PAGE_SIZE))
    return Page(_rows(results), page, PAGE_SIZE, total)


def export_rows(audit_filter: AuditFilter) -> Iterator[AuditRow]:
    """Every matching event, newest first, fetched in batches as the caller consumes them."""
    query = _newest_first(_filtered(audit_filter)).execution_options(yield_per=EXPORT_BATCH)
    for event, actor, subject in db.session.execute(query):
        yield AuditRow(event, actor, subject)


def as_record(row: AuditRow) -> dict[str, Any]:
    event = row.event
    return {
        "id": event.id,
        "created_at": event.created_at.isoformat(),
        "event_type": event.event_type,
        "actor": row.actor_email,
        "subject": row.subject_email,
        "client_id": row.client_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details or {},
    }


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a quote before it."""
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(rows: Iterable[AuditRow]) -> Iterator[str]:
    """The CSV text in pieces: the header, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    yield _drain(buffer)
    for row in rows:
        record = as_record(row)
        writer.writerow([safe_cell(record[field]) for field in EXPORT_FIELDS])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def to_json(rows: Iterable[AuditRow]) -> Iterator[str]:
    """``{"events": [...]}`` in pieces, one event per piece, so no list of all of them is ever held."""
    yield '{"events": ['
    for index, row in enumerate(rows):
        yield ("," if index else "") + "\n  " + json.dumps(as_record(row))
    yield "\n]}\n"


def export_filename(extension: str, now: datetime) -> str:
    return f"audit-{now.strftime('%Y%m%d-%H%M%S')}.{extension}"
