"""Profile edits and the verified email change behind the profile page. No request objects here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.core.accounts import normalize_email
from app.core.audit import Origin, record_event
from app.core.email_tokens import consume_email_token, issue_email_token, lookup_email_token
from app.extensions import db
from app.models import EmailToken, EmailTokenPurpose, User
from app.models.base import utcnow

# The OIDC `profile` claims a person edits here (app.core.claims releases them).
PROFILE_FIELDS = ("display_name", "given_name", "family_name", "locale", "zoneinfo")
_PURPOSE = EmailTokenPurpose.CHANGE_EMAIL


class EmailUnavailable(ValueError):
    """The address belongs to another account (or just became so); the person is told only that it can't be used."""


@dataclass(frozen=True)
class EmailChanged:
    user: User
    old_email: str


def update_profile(user: User, values: dict[str, str], *, origin: Origin) -> list[str]:
    """Apply the profile fields; returns the names of those that changed (audited by name, never by value)."""
    changed = [name for name in PROFILE_FIELDS if getattr(user, name) != values[name]]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        record_event("account.profile_updated", origin=origin, subject=user, fields=changed)
    return changed


def email_in_use(email: str, *, other_than: User) -> bool:
    """Whether another account uses the address, compared case-insensitively like sign-in does."""
    return (
        db.session.scalar(
            select(User.id).where(func.lower(User.email) == normalize_email(email).lower(), User.id != other_than.id)
        )
        is not None
    )


def request_email_change(user: User, new_email: str, *, origin: Origin) -> str:
    """Issue the single-use link for the new address; nothing changes until it is used. Earlier links die."""
    new_email = normalize_email(new_email)
    if email_in_use(new_email, other_than=user):
        raise EmailUnavailable(new_email)
    token = issue_email_token(user, _PURPOSE, email=new_email)
    record_event("account.email_change_requested", origin=origin, subject=user)
    return token


def find_email_change(token: str, user: User) -> EmailToken | None:
    """The usable change link for this person, or None when unknown, used, expired or another account's."""
    row = lookup_email_token(token, _PURPOSE)
    # Someone else's link answers like an unknown one and stays usable for its owner.
    if row is None or row.user_id != user.id or not row.is_usable(utcnow()):
        return None
    return row


def pending_email_change(user: User) -> str | None:
    """The address a still-usable change link went to, for the profile page to mention."""
    row = db.session.scalar(
        select(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == _PURPOSE, EmailToken.used_at.is_(None))
        .order_by(EmailToken.id.desc())
        .limit(1)
    )
    return row.email if row is not None and row.is_usable(utcnow()) else None


def confirm_email_change(token: str, user: User, *, origin: Origin) -> EmailChanged | None:
    """Use the link: the account takes the new address, now verified. None for a link that can't be used.

    Raises EmailUnavailable when another account took the address meanwhile (the link stays unused).
    """
    row = find_email_change(token, user)
    if row is None:
        return None
    if email_in_use(row.email, other_than=user):
        raise EmailUnavailable(row.email)
    if not consume_email_token(row):
        return None
    old_email = user.email
    user.email = row.email
    user.email_verified_at = utcnow()  # the link reached the new mailbox: that is the proof
    try:
        db.session.flush()
    except IntegrityError:
        # Another account claimed the address between the check and this write (unique lower(email)).
        db.session.rollback()
        raise EmailUnavailable(row.email) from None
    record_event("account.email_changed", origin=origin, subject=user, verified=True)
    return EmailChanged(user, old_email)
