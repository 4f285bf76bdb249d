"""Single-use links sent by email: confirm an address, reset a password, move the account to a new address.

Only the SHA-256 digest of a link's token is stored. Issuing a link kills the person's earlier unused
links of the same purpose, and using one is a conditional UPDATE, so two parallel uses can't both win.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.models import EmailToken, EmailTokenPurpose, User
from app.models.base import utcnow
from app.security import new_token, token_digest

# Short: a change link moves the account to another mailbox, so it should not lie around (ASVS 6.4 spirit).
EMAIL_CHANGE_TTL = timedelta(hours=1)
MAX_TOKEN_LENGTH = 128


def token_lifetime(purpose: EmailTokenPurpose) -> timedelta:
    config = current_app.config
    if purpose == EmailTokenPurpose.VERIFY:
        return config["EMAIL_VERIFY_TTL"]
    if purpose == EmailTokenPurpose.RESET:
        return config["PASSWORD_RESET_TTL"]
    return EMAIL_CHANGE_TTL


def issue_email_token(user: User, purpose: EmailTokenPurpose, *, email: str | None = None) -> str:
    """A new link token for `email` (the account's address unless given); older unused ones of that purpose die."""
    now = utcnow()
    db.session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = new_token(prefix=f"{purpose.value}_")
    db.session.add(
        EmailToken(
            token_digest=token_digest(token),
            purpose=purpose,
            user_id=user.id,
            email=email or user.email,
            created_at=now,
            expires_at=now + token_lifetime(purpose),
        )
    )
    return token


def lookup_email_token(token: str, purpose: EmailTokenPurpose) -> EmailToken | None:
    """The row this link names, used or not; None for an unknown or oversized token."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(
        select(EmailToken).where(EmailToken.token_digest == token_digest(token), EmailToken.purpose == purpose)
    )


def find_email_token(token: str, purpose: EmailTokenPurpose) -> EmailToken | None:
    """The usable token row for this link, or None when unknown, used, expired or for another address."""
    row = lookup_email_token(token, purpose)
    if row is None or not row.is_usable(utcnow()) or row.email.lower() != row.user.email.lower():
        return None
    return row


def consume_email_token(row: EmailToken) -> bool:
    """Mark the token used with one conditional UPDATE, so two parallel uses cannot both succeed."""
    result = db.session.execute(
        update(EmailToken).where(EmailToken.id == row.id, EmailToken.used_at.is_(None)).values(used_at=utcnow())
    )
    return result.rowcount == 1
