"""Recovery-code routes: create a new set (shown once, in the response), and the challenge with a code.

A set is created by the POST when the person proved themselves recently; else the step-up comes first and
leads back to GET /recovery/new, which creates the set asked for (app.mfa.flow's pending action). The first
factor's enrolment leads there too, with the person's first set.
"""

from __future__ import annotations

import time

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.core.factors import has_mfa
from app.core.sign_in import is_fresh
from app.core.text import lazy_gettext
from app.extensions import db, limiter
from app.mfa import bp
from app.mfa import recovery as service
from app.mfa.flow import ALREADY_PROVED, PENDING_ACTION_KEY, ask_for_recovery_codes, complete_challenge, fail_challenge
from app.mfa.views import challenge_form, render_challenge, render_security
from app.models import User, UserSession
from app.web.forms import ConfirmForm
from app.web.fresh_auth import fresh_auth_required
from app.web.limits import configured
from app.web.next_url import peek_next, take_next
from app.web.notices import send_factor_notice
from app.web.views import request_origin, see_other

KIND = "recovery"
WRONG_CODE = lazy_gettext("That recovery code didn't work. It may be mistyped or already used; each code works once.")
NEEDS_FACTOR = lazy_gettext("Set up a second factor first: recovery codes stand in for it when it's lost.")


class RecoveryCodeForm(FlaskForm):
    # Named for the factor: the challenge page holds every factor's form, and ids must stay unique.
    recovery_code = StringField(
        lazy_gettext("Recovery code"),
        validators=[
            DataRequired(lazy_gettext("Enter one of your recovery codes.")),
            Length(max=service.MAX_CODE_INPUT, message=lazy_gettext("That is longer than a recovery code.")),
        ],
    )


def _first_error(form: FlaskForm) -> str:
    return next(iter(error for errors in form.errors.values() for error in errors))


def _download_text(user: User, codes: list[str]) -> str:
    """The text file a person can keep: what the codes are for, then one code a line."""
    name = current_app.config["SERVICE_NAME"]
    header = [
        gettext("Recovery codes for %(email)s at %(service)s.", email=user.email, service=name),
        gettext("Each code works once. Keep them somewhere safe."),
        "",
    ]
    return "\n".join([*header, *codes, ""])


def _create_codes(user: User) -> list[str] | None:
    """A new set replacing the old one, committed and mailed about; None without a real factor to stand in for."""
    try:
        codes = service.generate_recovery_codes(user, origin=request_origin())
    except service.RecoveryCodesUnavailable:
        return None
    db.session.commit()
    send_factor_notice(user, KIND, "regenerated")
    return codes


@bp.post("/recovery/generate")
def generate_recovery_codes():
    """A new set replaces the old one; the codes are shown in this response only (never stored in clear).

    Fresh authentication even for the first set: a stolen session must not mint a way around the factor.
    Without it, the step-up comes first and its way back (GET /recovery/new) creates the set.
    """
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=url_for("mfa.security")))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user, user_session = current_user.user, current_user.session
    if not is_fresh(user_session, need_mfa=has_mfa(user)):
        return ask_for_recovery_codes(user_session, enrolled=False)
    codes = _create_codes(user)
    if codes is None:
        return render_security(user, user_session, status=400, recovery_error=NEEDS_FACTOR)
    return render_security(user, user_session, recovery_codes_new=codes, recovery_codes_file=_download_text(user, codes))


def _still_due(pending: object, user_session: UserSession) -> bool:
    """The pending request is for codes, from this session, and recent (a forgotten one does not wake up later)."""
    if not isinstance(pending, dict) or pending.get("action") != "recovery_codes":
        return False
    age = time.time() - pending.get("at", 0)
    return pending.get("session") == user_session.id and 0 <= age <= current_app.config["FRESH_AUTH_SECONDS"]


@bp.get("/recovery/new")
def new_recovery_codes():
    """The set the person asked for (or their first factor's), created on arrival and shown once on its own page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=url_for("mfa.security")))
    pending = session.get(PENDING_ACTION_KEY)
    if not _still_due(pending, current_user.session):
        return see_other(url_for("mfa.security"))  # a reload, a bookmark, another session's: shown once
    # An enrolment proved the new factor moments ago; a request from the security page proves itself now.
    show = _show_new_codes if pending.get("enrolled") else fresh_auth_required(_show_new_codes)
    return show()


def _show_new_codes():
    session.pop(PENDING_ACTION_KEY, None)
    user = current_user.user
    codes = _create_codes(user)
    if codes is None:
        flash(str(NEEDS_FACTOR), "warning")
        return see_other(url_for("mfa.security"))
    then = take_next() if peek_next() else url_for("mfa.security")
    page = render_template(
        "mfa/recovery_codes.html", recovery_codes_new=codes, recovery_codes_file=_download_text(user, codes), then=then
    )
    return page, 200


@bp.post("/challenge/recovery")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@challenge_form
def challenge_recovery(user: User, user_session: UserSession) -> Response | tuple:
    form = RecoveryCodeForm()
    if not form.validate_on_submit():
        return render_challenge(user, user_session, error=_first_error(form), status=400)
    remaining = service.use_recovery_code(user, form.recovery_code.data, origin=request_origin())
    if remaining is None:
        if not fail_challenge(user, KIND, user_session):  # a parallel copy with the right code won: not a failure
            return render_challenge(user, user_session, error=ALREADY_PROVED, status=409)
        return render_challenge(user, user_session, error=WRONG_CODE, status=401)
    response = complete_challenge(user_session, KIND)  # commits the spent code with the sign-in
    if remaining <= service.FEW_LEFT:
        # After completing: the upgrade starts a new Flask session, which would drop an earlier flash.
        few_left = ngettext(
            "You have %(num)d recovery code left. Create a new set on the two-step verification page.",
            "You have %(num)d recovery codes left. Create a new set on the two-step verification page.",
            remaining,
        )
        flash(few_left, "warning")
    return response
