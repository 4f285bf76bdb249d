"""Browsers a person trusts to skip the second-factor challenge at sign-in ("Trust this browser").

Ticked on the challenge page, a passed factor gives the browser a random token in a long-lived cookie; only
its SHA-256 digest is stored, with an expiry (IDP_TRUSTED_BROWSER_SECONDS). A later sign-in from that browser
with the right password skips the challenge, and that session's amr says only what was proven (["pwd"]),
never "mfa": so an app asking for MFA (acr_values), the console's recent-factor rule and the fresh-auth guard
of sensitive changes still challenge it. A password change or reset, an MFA reset, disabling the account and
the person's own "Forget all" on the security page forget every trusted browser of the account.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from app.core.audit import Origin, record_event
from app.core.live_sessions import describe_device
from app.extensions import db
from app.models import TrustedBrowser, User
from app.models.base import utcnow
from app.security import new_token, token_digest


def trust_browser(user: User, *, origin: Origin) -> str:
    """Remember this browser for the person; returns the cookie value (shown to the browser only)."""
    cookie_value = new_token()
    now = utcnow()
    device = describe_device(origin.user_agent or "")
    lifetime = timedelta(seconds=current_app.config["TRUSTED_BROWSER_SECONDS"])
    row = TrustedBrowser(
        user_id=user.id,
        token_digest=token_digest(cookie_value),
        user_agent=f"{device.browser} on {device.system}"[:120],
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(row)
    db.session.flush()
    record_event(
        "mfa.browser_trusted", origin=origin, subject=user, trusted_browser_id=row.id, expires_at=row.expires_at.isoformat()
    )
    return cookie_value


def is_trusted(user: User, cookie_value: str | None) -> bool:
    """Whether this cookie names an unexpired trusted browser of this person (and note its use)."""
    if not cookie_value or len(cookie_value) > 128:
        return False
    now = utcnow()
    row = db.session.scalar(
        select(TrustedBrowser).where(
            TrustedBrowser.token_digest == token_digest(cookie_value),
            TrustedBrowser.user_id == user.id,
            TrustedBrowser.expires_at > now,
        )
    )
    if row is None:
        return False
    row.last_used_at = now
    return True


def count_trusted(user: User) -> int:
    mine = (TrustedBrowser.user_id == user.id, TrustedBrowser.expires_at > utcnow())
    return db.session.scalar(select(func.count()).select_from(TrustedBrowser).where(*mine))


def forget_trusted_browsers(user: User, *, origin: Origin, reason: str) -> int:
    """Forget every trusted browser of the person (their next sign-in is challenged); returns how many."""
    forgotten = db.session.execute(delete(TrustedBrowser).where(TrustedBrowser.user_id == user.id)).rowcount
    if forgotten:
        record_event("mfa.trusted_browsers_forgotten", origin=origin, subject=user, count=forgotten, reason=reason)
    return forgotten
