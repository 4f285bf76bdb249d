"""The sign-in challenge and step-up, shared by every factor.

After a correct password a person with a factor gets a *pending* session (`UserSession.pending`
= "mfa"): Flask-Login treats it as anonymous, so nothing but the MFA pages can be reached. A
person who must have MFA but has none gets pending = "enrol" and can only set a factor up. A
factor's view verifies its own proof and then calls `complete_challenge`, which upgrades the
session under a new cookie value (SECURITY.md: new id at MFA completion), records `amr` and
`auth_time`, and sends the person on. A signed-in person who needs a fresher or stronger proof
(a sensitive change, an app asking `acr_values` for MFA) goes through the same page: step-up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.audit import Origin, record_event
from app.browser_session import attach_to_browser, pending_session
from app.extensions import db
from app.lockout import record_failed_attempt
from app.mfa.factors import AMR, RESTRICTED_KINDS, enrolled_factor_kinds
from app.mfa.mail import send_factor_notice
from app.models import User, UserSession
from app.oauth.constants import ACR_MFA
from app.models.base import utcnow
from app.redirects import safe_next
from app.security import new_token, token_digest
from app.web import request_origin, see_other

MFA_ACR = ACR_MFA
_NEXT_KEY = "mfa_next"


def mfa_required(user: User) -> bool:
    return user.is_admin or bool(current_app.config["REQUIRE_MFA"])


KEEP_ONE = "Your account must keep a second factor. Add another one before removing this one."


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


def sign_in_stage(user: User) -> str | None:
    """What a correct password leads to: None (signed in), "mfa" (challenge) or "enrol" (set a factor up)."""
    kinds = enrolled_factor_kinds(user)
    if mfa_required(user) and not _satisfies_requirement(user, kinds):
        return "enrol"  # an admin whose only factor is SMS sets up a stronger one first
    if kinds:
        return "mfa"
    return None


def remember_next(next_url: str | None) -> None:
    """Where to go once the challenge is passed (checked again when used)."""
    if safe_next(next_url):
        session[_NEXT_KEY] = next_url


def _take_next() -> str:
    return safe_next(session.pop(_NEXT_KEY, None)) or url_for("account.overview")


def challenge_subject() -> tuple[User, UserSession] | None:
    """Who the challenge page is for: a pending session, or a signed-in person stepping up."""
    pending = pending_session()
    if pending is not None and pending.pending == "mfa":
        return pending.user, pending
    if current_user.is_authenticated and current_user.user.has_mfa:
        return current_user.user, current_user.session
    return None


def enrolment_subject() -> tuple[User, UserSession] | None:
    """Who may enrol a factor: a signed-in person, or a pending session that must enrol first."""
    pending = pending_session()
    if pending is not None and pending.pending == "enrol":
        return pending.user, pending
    if current_user.is_authenticated:
        return current_user.user, current_user.session
    return None


def upgrade_session(user_session: UserSession, methods: list[str], *, origin: Origin) -> None:
    """Record a passed factor: amr gains the method and "mfa", auth_time is now, the cookie is new."""
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
    next_url = session.get(_NEXT_KEY)
    attach_to_browser(user_session.user, user_session, cookie_value)  # clears Flask's session: keep next
    if next_url:
        session[_NEXT_KEY] = next_url


def complete_challenge(user_session: UserSession, kind: str) -> Response:
    """A factor's proof was accepted: upgrade the session, commit, and continue where the person was going."""
    upgrade_session(user_session, [AMR[kind]], origin=request_origin())
    db.session.commit()
    return see_other(_take_next())


def finish_enrolment(user_session: UserSession, kind: str, enrolled_message: str) -> Response:
    """A factor was just confirmed (the caller added it): a must-enrol session is now signed in by it;
    a signed-in person goes back to the security page. Commits, then mails the notice."""
    if user_session.pending == "enrol":
        response = complete_challenge(user_session, kind)  # commits, with the enrolment
    else:
        db.session.commit()
        flash(enrolled_message, "success")
        response = see_other(url_for("mfa.security"))
    send_factor_notice(user_session.user, kind, "added")
    return response


def fail_challenge(user: User, kind: str) -> None:
    """A wrong proof counts toward the lockout, like a wrong password; the caller re-renders its form."""
    record_failed_attempt(user, utcnow(), request_origin(), "mfa", factor=kind)
    db.session.commit()


def challenge_locked(user: User) -> bool:
    return user.is_locked(utcnow()) or user.is_disabled


def is_fresh(user_session: UserSession, *, need_mfa: bool) -> bool:
    """Whether the session proved itself recently enough for a sensitive change."""
    window = timedelta(seconds=current_app.config["FRESH_AUTH_SECONDS"])
    if utcnow() - user_session.auth_time > window:
        return False
    return "mfa" in user_session.amr or not need_mfa


def fresh_auth_required(view: Callable | None = None, *, back_to: str | None = None) -> Callable:
    """Guard for sensitive changes: a factor proven within FRESH_AUTH_SECONDS, else step up first.

    A person without any factor proves themselves with the password again instead. Afterwards
    they come back to `back_to` (an endpoint), or to this URL when it answers GET, or else to
    the security page. Use as `@fresh_auth_required` or `@fresh_auth_required(back_to=...)`.
    """
    if view is None:
        return lambda inner: fresh_auth_required(inner, back_to=back_to)

    @wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        user, user_session = current_user.user, current_user.session
        has_factor = user.has_mfa
        if not is_fresh(user_session, need_mfa=has_factor):
            back = _way_back(back_to)
            if has_factor:
                remember_next(back)
                return redirect(url_for("mfa.challenge"))
            return redirect(url_for("auth.login", next=back, reauth="1"))
        return view(*args, **kwargs)

    return guarded


def _way_back(back_to: str | None) -> str:
    if back_to is not None:
        return url_for(back_to)
    if request.method == "GET":
        return request.full_path
    if request.url_rule is not None and "GET" in request.url_rule.methods:
        return request.path  # the form this POST came from
    return url_for("mfa.security")
