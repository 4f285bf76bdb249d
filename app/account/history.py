"""The security history: a person's own audit events, a page at a time, told in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import func, select

from app.core import live_sessions as sessions
from app.core.audit import describe_event
from app.core.paging import Page, page_offset
from app.core.providers import find_provider
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import AuditEvent, OAuthClient, User

PAGE_SIZE = 25

# Factor kinds as people know them; an unknown kind is simply not mentioned.
_FACTOR_NAMES = {
    "totp": lazy_gettext("Factor: authenticator app"),
    "webauthn": lazy_gettext("Factor: security key"),
    "passkey": lazy_gettext("Factor: passkey"),
    "sms": lazy_gettext("Factor: text message"),
    "recovery": lazy_gettext("Factor: recovery codes"),
}


@dataclass(frozen=True)
class HistoryEntry:
    label: str
    created_at: datetime
    ip_address: str | None
    device: str
    detail: str | None


def describe_device(user_agent: str | None) -> str:
    """ "Firefox 128 on Linux": the sessions page's parser (ua-parser), in one short phrase."""
    device = sessions.describe_device(user_agent or "")
    browser = None if device.browser == sessions.UNKNOWN_BROWSER else device.browser
    system = None if device.system == sessions.UNKNOWN_SYSTEM else device.system
    if browser and system:
        return device.label
    return str(browser or system or gettext("Unknown device"))


def history_page(user: User, page: int) -> Page[HistoryEntry] | None:
    """The user's events on page ``page`` (1-based), newest first; None when there is no such page."""
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.subject_user_id == user.id))
    offset = page_offset(total, page, PAGE_SIZE)
    if offset is None:
        return None
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_user_id == user.id)  # only events about this person, never anyone else's
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .offset(offset)
            .limit(PAGE_SIZE)
        )
    )
    names = _client_names(events)
    return Page([_entry(event, names) for event in events], page, PAGE_SIZE, total)


def _client_names(events: list[AuditEvent]) -> dict[str, str]:
    """Names of the clients these events mention, in one query; deleted clients are simply absent."""
    client_ids = {event.details.get("client_id") for event in events if isinstance(event.details, dict)}
    client_ids.discard(None)
    if not client_ids:
        return {}
    query = select(OAuthClient.client_id, OAuthClient.name).where(OAuthClient.client_id.in_(client_ids))
    rows = db.session.execute(query)
    return {client_id: name for client_id, name in rows}


def _entry(event: AuditEvent, client_names: dict[str, str]) -> HistoryEntry:
    return HistoryEntry(
        label=describe_event(event.event_type),
        created_at=event.created_at,
        ip_address=event.ip_address,
        device=describe_device(event.user_agent),
        detail=_safe_detail(event.details or {}, client_names),
    )


def _safe_detail(details: dict, client_names: dict[str, str]) -> str | None:
    """Only details that help a person recognise the event: the app's name, the factor's kind.

    Everything else (jti, session and family ids, scopes) means nothing to a person, so it stays
    in the audit trail and the export.
    """
    client_name = client_names.get(details.get("client_id"))
    if client_name:
        return gettext("App: %(app)s", app=client_name)
    factor = _FACTOR_NAMES.get(details.get("kind") or details.get("factor"))
    if factor:
        return str(factor)
    provider = find_provider(details.get("provider") or "")
    if provider is not None:
        return gettext("Through: %(provider)s", provider=provider.display_name)
    return None
