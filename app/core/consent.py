"""Consent: what a person allowed an app, remembered per (person, client) so only new scopes are asked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app.core.audit import Origin, record_event
from app.core.inserts import insert_ignoring_duplicates
from app.extensions import db
from app.models import OAuthClient, OAuthConsent, User
from app.models.base import utcnow


def find_consent(user: User, client: OAuthClient) -> OAuthConsent | None:
    return db.session.scalar(select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_id == client.id))


def needs_consent(user: User, client: OAuthClient, scope: str) -> bool:
    if client.is_metadata_document:
        return True  # unreviewed, and its document may have changed since: asked every time
    if client.is_first_party:
        return False
    consent = find_consent(user, client)
    return consent is None or not consent.covers(scope)


NO_CONSENT = "new"


def consent_state(user: User, client: OAuthClient) -> str:
    """What the consent page answers: the stored consent as it is now ("new" when there is none).

    The page carries this reference; the first answer changes the state, so any later submission of the
    same page (a double click, a resubmitted tab) no longer matches and issues nothing (answer_consent).
    """
    consent = find_consent(user, client)
    return NO_CONSENT if consent is None else consent.granted_at.isoformat()


def grant_consent(user: User, client: OAuthClient, scope: str, *, origin: Origin, answers: str | None = None) -> bool:
    """Remember the approval if the consent is still in the state the page answered; False if answered already.

    A compare-and-set, atomic under any concurrency: a first consent is INSERT ... ON CONFLICT DO NOTHING,
    a wider one an UPDATE conditional on the granted_at the page saw. Of parallel submissions of one page
    exactly one matches. `answers` None takes the state as it is now (no page to compare with).
    A later request for more scopes asks again (only for what is new).
    """
    consent = find_consent(user, client)
    seen = answers if answers is not None else (NO_CONSENT if consent is None else consent.granted_at.isoformat())
    now = utcnow()
    if seen == NO_CONSENT:
        values = {"user_id": user.id, "client_id": client.id, "scope": _merged("", scope), "granted_at": now}
        table = OAuthConsent.__table__
        stored = insert_ignoring_duplicates(table, values, [table.c.user_id, table.c.client_id])
    else:
        try:
            seen_at = datetime.fromisoformat(seen)
        except ValueError:
            return False
        if consent is None or seen_at.tzinfo is None:
            return False
        stored = (
            db.session.execute(
                update(OAuthConsent)
                .where(OAuthConsent.id == consent.id, OAuthConsent.granted_at == seen_at)
                .values(scope=_merged(consent.scope, scope), granted_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
    if stored:
        db.session.expire_all()  # the consent row changed underneath the ORM
        record_event("oauth.consent_granted", origin=origin, subject=user, client_id=client.client_id, scope=scope)
    return stored


def _merged(held: str, added: str) -> str:
    return " ".join(sorted(set(held.split()) | set(added.split())))


def record_consent_denied(user: User, client: OAuthClient, scope: str, *, origin: Origin) -> None:
    record_event("oauth.consent_denied", origin=origin, subject=user, client_id=client.client_id, scope=scope)
