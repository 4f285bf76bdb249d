"""The sign-in challenge and enrolment pages' shared steps: who the page is for, and what passing does.

The stages themselves (pending, must-enrol, step-up) are app.core.sign_in's; this module binds them
to the browser: the pending session found through the cookie, the new cookie after a passed factor,
and the way back to where the person was going (app.web.next_url).
"""

from __future__ import annotations

import time

from flask import current_app, flash, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.core.factors import AMR, has_mfa
from app.core.sign_in import proved_meanwhile, record_failed_factor, record_second_factor
from app.core.text import lazy_gettext
from app.core.trusted_browsers import trust_browser
from app.extensions import db
from app.metrics import MFA_CHALLENGES, count
from app.mfa.recovery import first_set_due
from app.models import SignInStage, User, UserSession
from app.web.browser_session import attach_to_browser, pending_session
from app.web.next_url import peek_next, remember_next, take_next
from app.web.notices import send_factor_notice
from app.web.signed_in import after_sign_in, give_trusted_browser_cookie
from app.web.views import request_origin, see_other


def challenge_subject() -> tuple[User, UserSession] | None:
    """Who the challenge page is for: a pending session, or a signed-in person stepping up."""
    pending = pending_session()
    if pending is not None and pending.pending == SignInStage.MFA:
        return pending.user, pending
    if current_user.is_authenticated and has_mfa(current_user.user):
        return current_user.user, current_user.session
    return None


def enrolment_subject() -> tuple[User, UserSession] | None:
    """Who may enrol a factor: a signed-in person, or a pending session that must enrol first."""
    pending = pending_session()
    if pending is not None and pending.pending == SignInStage.ENROL:
        return pending.user, pending
    if current_user.is_authenticated:
        return current_user.user, current_user.session
    return None


# What the person asked for before a step-up or an enrolment, to finish once they are through, bound to their
# session row: {"action": ..., "session": id, ...}. It outlives the new browser state of a passed factor, like
# the way back does. Only app/mfa/recovery_views.py sets one today: recovery codes to create and show.
PENDING_ACTION_KEY = "mfa_pending_action"


def ask_for_recovery_codes(user_session: UserSession, *, enrolled: bool, then: str | None = None) -> Response:
    """Send the person to their new recovery codes (created on that page, shown once), then on to `then`.

    `enrolled`: a factor was proven by its enrolment just now, which stands in for the fresh proof.
    """
    pending = {"action": "recovery_codes", "session": user_session.id, "enrolled": enrolled, "at": int(time.time())}
    session[PENDING_ACTION_KEY] = pending
    remember_next(then)
    return see_other(url_for("mfa.new_recovery_codes"))


ALREADY_PROVED = lazy_gettext("This sign-in was already verified, perhaps in another tab. Continue there, or sign in again.")


def complete_challenge(user_session: UserSession, kind: str, *, trust: bool | None = None) -> Response:
    """A factor's proof was accepted: upgrade the session, commit, and continue where the person was going.

    `trust`: the challenge page's "Trust this browser" box (honoured at sign-in only, never at a
    step-up); by default read from the submitted form, given by a JSON endpoint (the security key's).
    """
    signing_in = user_session.pending is not None  # else a signed-in session stepping up
    cookie_value = record_second_factor(user_session, [AMR[kind]], origin=request_origin())
    count(MFA_CHALLENGES, factor=kind, result="success")
    next_url, pending_action = peek_next(), session.get(PENDING_ACTION_KEY)
    attach_to_browser(user_session.user, user_session, cookie_value)  # clears Flask's session: keep these
    remember_next(next_url)
    if pending_action is not None:
        session[PENDING_ACTION_KEY] = pending_action
    if signing_in:
        after_sign_in(user_session)
        if trust is None:
            trust = bool(request.form.get("trust_browser"))
        if trust and current_app.config["TRUSTED_BROWSER_SECONDS"] > 0:  # ticked: skip the challenge here next time
            give_trusted_browser_cookie(trust_browser(user_session.user, origin=request_origin()))
    db.session.commit()
    return see_other(take_next())


def finish_enrolment(user_session: UserSession, kind: str, enrolled_message: str) -> Response:
    """A factor was just confirmed (the caller added it): a must-enrol session is now signed in by it;
    a signed-in person goes back to the security page. The first factor leads through the person's new
    recovery codes first. Commits, then mails the notice."""
    if user_session.pending == SignInStage.ENROL:
        response = complete_challenge(user_session, kind)  # commits, with the enrolment
    else:
        db.session.commit()
        flash(str(enrolled_message), "success")
        response = see_other(url_for("mfa.security"))
    send_factor_notice(user_session.user, kind, "added")
    return after_enrolment(user_session, response.location)


def after_enrolment(user_session: UserSession, then: str) -> Response:
    """Where a committed enrolment leads: the first factor's new recovery codes, then `then`; else `then`."""
    if first_set_due(user_session.user):
        return ask_for_recovery_codes(user_session, enrolled=True, then=then)
    return see_other(then)


def fail_challenge(user: User, kind: str, user_session: UserSession | None = None) -> bool:
    """A wrong proof counts toward the lockout, like a wrong password; the caller re-renders its form.

    Given the session the proof was for, a submission that lost a race against a correct one of the same
    sign-in (double submit, two tabs: the session was upgraded meanwhile) is not counted: returns False,
    and the caller says the sign-in is already done (ALREADY_PROVED).
    """
    if user_session is not None and proved_meanwhile(user_session, user_session.token_digest):
        db.session.rollback()
        return False
    record_failed_factor(user, kind, origin=request_origin())
    count(MFA_CHALLENGES, factor=kind, result="failure")
    db.session.commit()
    return True
