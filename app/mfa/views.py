"""The shared MFA pages: the sign-in challenge (each factor adds its own form) and the security page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.core.durations import describe_age
from app.core.factors import challenge_plugins, enrolled_factor_kinds, plugins
from app.core.sign_in import challenge_locked
from app.core.text import lazy_gettext
from app.core.trusted_browsers import count_trusted
from app.core.trusted_browsers import forget_trusted_browsers as forget_all
from app.extensions import db
from app.mfa import bp
from app.mfa.flow import challenge_subject, enrolment_subject
from app.models import SignInStage, User, UserSession
from app.web.forms import ConfirmForm
from app.web.views import request_origin, see_other

LOCKED = lazy_gettext("Too many wrong codes. Wait a few minutes, then try again.")
FORGOTTEN = lazy_gettext("Every trusted browser was forgotten: each asks for a second factor at its next sign-in.")
NONE_TRUSTED = lazy_gettext("There were no trusted browsers to forget.")


def enrolment_form(view: Callable) -> Callable:
    """A factor's form on the security page: called with (user, user_session) of whoever may enrol, or the
    browser goes to sign in and comes back to the security page."""

    @wraps(view)
    def guarded(*args, **kwargs):
        subject = enrolment_subject()
        if subject is None:
            return see_other(url_for("auth.login", next=url_for("mfa.security")))
        return view(*subject, *args, **kwargs)

    return guarded


def challenge_form(view: Callable) -> Callable:
    """A factor's form on the challenge page: called with (user, user_session) of whoever owes the challenge.
    Signed out goes to sign in; a locked account gets the page back with LOCKED and checks no proof."""

    @wraps(view)
    def guarded(*args, **kwargs):
        subject = challenge_subject()
        if subject is None:
            return see_other(url_for("auth.login"))
        if challenge_locked(subject[0]):
            return render_challenge(*subject, error=LOCKED, status=429)
        return view(*subject, *args, **kwargs)

    return guarded


@bp.get("/challenge")
def challenge():
    subject = challenge_subject()
    if subject is None:
        return redirect(url_for("auth.login"))
    return render_challenge(*subject)


def render_challenge(user: User, user_session: UserSession, *, error: str | None = None, status: int = 200, **context):
    """The challenge page; a factor's view re-renders it with an error after a wrong proof.

    `context` reaches the factors' partial templates (e.g. `sms_sent=True`).
    """
    page = render_template(
        "mfa/challenge.html",
        user=user,
        methods=challenge_plugins(user),
        stepping_up=user_session.pending is None,
        trust_period=_trust_period(),
        error=error,
        **context,
    )
    return page, status


def _trust_period() -> str | None:
    """How long "Trust this browser" lasts, in words; None when IDP_TRUSTED_BROWSER_SECONDS=0 turns it off."""
    seconds = current_app.config["TRUSTED_BROWSER_SECONDS"]
    return describe_age(timedelta(seconds=seconds)) if seconds > 0 else None


@bp.get("/")
def security():
    """Two-step verification: every factor's section; the only page a must-enrol session can reach."""
    subject = enrolment_subject()
    if subject is None:
        return redirect(url_for("auth.login", next=url_for("mfa.security")))
    return render_security(*subject)


def render_security(user: User, user_session: UserSession, *, status: int = 200, **context):
    """The security page with extra context for the factors' sections (a new secret, fresh codes, errors)."""
    for section in plugins():
        if section.manage_context is not None:
            context = {**section.manage_context(user), **context}
    page = render_template(
        "mfa/security.html",
        user=user,
        sections=plugins(),
        enrolled=enrolled_factor_kinds(user),
        must_enrol=user_session.pending == SignInStage.ENROL,
        trusted_browsers=count_trusted(user),
        **context,
    )
    return page, status


@bp.get("/trusted-browsers/forget")
@login_required
def forget_trusted_browsers_page():
    """Ask before forgetting: the next sign-in in each of those browsers asks for a second factor again."""
    count = count_trusted(current_user.user)
    return render_template("mfa/forget_trusted_browsers.html", form=ConfirmForm(), count=count)


@bp.post("/trusted-browsers/forget")
@login_required
def forget_trusted_browsers():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    forgotten = forget_all(current_user.user, origin=request_origin(), reason="forgotten_by_user")
    db.session.commit()
    flash(str(FORGOTTEN if forgotten else NONE_TRUSTED), "success")
    return see_other(url_for("mfa.security"))
