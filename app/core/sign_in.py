"""The stages of a sign-in: what a correct first proof leads to, and what a second factor adds.

After a correct password (or a linked account) a person with a factor gets a *pending* session
(`UserSession.pending` = `SignInStage.MFA`): nothing but the MFA pages can be reached with it. A
person who must have MFA but has none gets `SignInStage.ENROL` and can only set a factor up. A
passed factor upgrades the session under a new cookie value (docs/security.md: new id at MFA
completion) and records `amr` and `auth_time`. A signed-in person who needs a fresher or stronger
proof (a sensitive change, an app asking `acr_values` for MFA) goes through the same upgrade: step-up.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.core.audit import Origin, record_event
from app.core.factors import RESTRICTED_KINDS, enrolled_factor_kinds
from app.core.lockout import record_failed_attempt
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import SignInStage, User, UserSession
from app.models.base import utcnow
from app.security import new_token, token_digest

KEEP_ONE = lazy_gettext("Your account must keep a second factor. Add another one before removing this one.")


def mfa_required(user: User) -> bool:
    return user.is_admin or bool(current_app.config["REQUIRE_MFA"])


def keeps_required_factor(user: User, kinds_left: list[str]) -> bool:
    """Whether removing a factor, leaving `kinds_left`, is allowed: someone who must have MFA keeps one.

    They add the new factor first, then remove the old one; an admin is never left without MFA.
    """
    return _satisfies_requirement(user, kinds_left) or not mfa_required(user)


def may_remove(user: User, kind: str) -> bool:
    """Whether the person may give up every factor of this kind (see keeps_required_factor)."""
    return keeps_required_factor(user, [other for other in enrolled_factor_kinds(user) if other != kind])


def _satisfies_requirement(user: User, kinds: list[str]) -> bool:
    """An admin needs a factor other than SMS; anyone else, any factor."""
    if user.is_admin:
        return any(kind not in RESTRICTED_KINDS for kind in kinds)
    return bool(kinds)


def sign_in_stage(user: User) -> SignInStage | None:
    """What a correct first proof leads to: None (signed in), a challenge, or setting a factor up."""
    kinds = enrolled_factor_kinds(user)
    if mfa_required(user) and not _satisfies_requirement(user, kinds):
        return SignInStage.ENROL  # an admin whose only factor is SMS sets up a stronger one first
    if kinds:
        return SignInStage.MFA
    return None


def record_second_factor(user_session: UserSession, methods: list[str], *, origin: Origin) -> str:
    """Record a passed factor: amr gains the method and "mfa", auth_time is now, the cookie value is new.

    Returns the new cookie value for the browser. The failure count resets: the person proved both factors.
    """
    amr = [m for m in user_session.amr if m != "mfa"]
    for method in methods:
        if method not in amr:
            amr.append(method)
    user_session.amr = [*amr, "mfa"]
    user_session.auth_time = utcnow()
    was_pending = user_session.pending is not None
    user_session.pending = None
    cookie_value = new_token()
    user_session.token_digest = token_digest(cookie_value)
    event = "auth.login" if was_pending else "auth.step_up"
    record_event(event, origin=origin, subject=user_session.user, session_id=user_session.id, amr=user_session.amr)
    user_session.user.failed_login_count = 0
    user_session.user.locked_until = None
    db.session.flush()
    return cookie_value


def skip_challenge_in_trusted_browser(user_session: UserSession, *, origin: Origin) -> None:
    """The password was right in a browser the person trusts (app/core/trusted_browsers.py): signed in without the
    challenge. amr stays ["pwd"]: no factor was proven now, so every step-up rule still asks for one."""
    user_session.pending = None
    record_event(
        "auth.login",
        origin=origin,
        subject=user_session.user,
        session_id=user_session.id,
        amr=user_session.amr,
        trusted_browser=True,
    )


def record_failed_factor(user: User, kind: str, *, origin: Origin) -> None:
    """A wrong proof counts toward the lockout, like a wrong password."""
    record_failed_attempt(user, utcnow(), origin, "mfa", factor=kind)


def proved_meanwhile(user_session: UserSession, seen_digest: str) -> bool:
    """Whether a parallel submission passed the factor in this same sign-in while this one was checked.

    Every passed factor gives the session a new cookie value (record_second_factor). A submission that
    lost the race for a single-use proof (the same TOTP step, the same recovery code) finds the session's
    digest changed: the person proved the factor, and the losing copy is not a failed attempt. The check
    reads the committed row, not this request's copy; a session that no longer exists proves nothing.
    """
    current = db.session.scalar(select(UserSession.token_digest).where(UserSession.id == user_session.id))
    return current is not None and current != seen_digest


def challenge_locked(user: User) -> bool:
    return user.is_locked(utcnow()) or user.is_disabled


def is_fresh(user_session: UserSession, *, need_mfa: bool) -> bool:
    """Whether the session proved itself recently enough for a sensitive change."""
    window = timedelta(seconds=current_app.config["FRESH_AUTH_SECONDS"])
    if utcnow() - user_session.auth_time > window:
        return False
    return "mfa" in user_session.amr or not need_mfa
