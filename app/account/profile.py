"""Profile edits and the verified email change behind the profile page. No request objects here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.core.audit import Origin, record_event
from app.web.notices import external_url
from app.core.accounts import consume_email_token, normalize_email
from app.extensions import db
from app.core.mail import render_mail, send_mail
from app.models import EmailToken, EmailTokenPurpose, User
from app.models.base import utcnow
from app.security import new_token, token_digest

# The OIDC `profile` claims a person edits here (app/oauth/claims.py releases them).
PROFILE_FIELDS = ("display_name", "given_name", "family_name", "locale", "zoneinfo")
# Short: the link moves the account to another mailbox, so it should not lie around (ASVS 6.4 spirit).
EMAIL_CHANGE_TTL = timedelta(hours=1)
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
    now = utcnow()
    db.session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == _PURPOSE, EmailToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = new_token(prefix=f"{_PURPOSE.value}_")
    db.session.add(
        EmailToken(
            token_digest=token_digest(token),
            purpose=_PURPOSE,
            user_id=user.id,
            email=new_email,
            created_at=now,
            expires_at=now + EMAIL_CHANGE_TTL,
        )
    )
    record_event("account.email_change_requested", origin=origin, subject=user)
    return token


def find_email_change(token: str, user: User) -> EmailToken | None:
    """The usable change link for this person, or None when unknown, used, expired or another account's."""
    if not token or len(token) > 128:
        return None
    row = db.session.scalar(
        select(EmailToken).where(EmailToken.token_digest == token_digest(token), EmailToken.purpose == _PURPOSE)
    )
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


def mask_email(email: str) -> str:
    """j…@example.com: enough for the owner to recognise an address, little for whoever else reads the old mailbox."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def send_email_change_link(user: User, new_email: str, token: str) -> None:
    link = external_url("account.confirm_email_change_page", token=token)
    minutes = int(EMAIL_CHANGE_TTL.total_seconds() // 60)
    send_mail(
        render_mail(
            "email_change_verify", to=new_email, subject="Confirm your new email address", user=user, link=link, minutes=minutes
        )
    )


def send_email_change_notice(user: User, old_email: str, new_email: str, *, done: bool) -> None:
    """Tell the old address: a change was asked for (done=False), or it has happened (done=True)."""
    subject = "Your email address was changed" if done else "A change of your email address was requested"
    send_mail(
        render_mail(
            "email_changed_notice",
            to=old_email,
            subject=subject,
            user=user,
            new_email=mask_email(new_email),
            done=done,
            reset_link=external_url("auth.forgot_password"),
        )
    )
