"""Consent: what a person allowed an app, remembered per (person, client) so only new scopes are asked."""

from __future__ import annotations

from sqlalchemy import select

from app.core.audit import Origin, record_event
from app.extensions import db
from app.models import OAuthClient, OAuthConsent, User
from app.models.base import utcnow


def find_consent(user: User, client: OAuthClient) -> OAuthConsent | None:
    return db.session.scalar(select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_id == client.id))


def needs_consent(user: User, client: OAuthClient, scope: str) -> bool:
    if client.is_first_party:
        return False
    consent = find_consent(user, client)
    return consent is None or not consent.covers(scope)


def grant_consent(user: User, client: OAuthClient, scope: str, *, origin: Origin) -> None:
    """Remember the approval; a later request for more scopes asks again (only for what is new)."""
    consent = find_consent(user, client)
    if consent is None:
        consent = OAuthConsent(user_id=user.id, client_id=client.id, scope="")
        db.session.add(consent)
    consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scope.split())))
    consent.granted_at = utcnow()
    record_event("oauth.consent_granted", origin=origin, subject=user, client_id=client.client_id, scope=scope)


def record_consent_denied(user: User, client: OAuthClient, scope: str, *, origin: Origin) -> None:
    record_event("oauth.consent_denied", origin=origin, subject=user, client_id=client.client_id, scope=scope)
