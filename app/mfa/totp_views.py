"""Authenticator-app routes: set up (show the QR code), confirm with a first code, remove, and the challenge."""

from __future__ import annotations

from flask import abort, current_app, flash, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

from app.core.sign_in import KEEP_ONE, may_remove
from app.core.text import lazy_gettext
from app.extensions import db, limiter
from app.mfa import bp
from app.mfa import totp as service
from app.mfa.flow import ALREADY_PROVED, complete_challenge, fail_challenge, finish_enrolment
from app.mfa.views import challenge_form, enrolment_form, render_challenge, render_security
from app.models import User, UserSession
from app.web.forms import ConfirmForm, without_spaces
from app.web.fresh_auth import fresh_auth_required
from app.web.limits import configured
from app.web.notices import send_factor_notice
from app.web.views import request_origin, see_other

KIND = "totp"
WRONG_CODE = lazy_gettext("That code didn't work. Enter the current 6-digit code from your authenticator app.")
ALREADY_ENROLLED = lazy_gettext("An authenticator app is already set up. Remove it first to set up a new one.")
NO_SETUP = lazy_gettext("There is no authenticator app setup in progress. Start again.")
ENROLLED = lazy_gettext("Your authenticator app is set up. Signing in now asks for a code from it.")
REMOVED = lazy_gettext("Your authenticator app was removed.")
NOT_ENROLLED = lazy_gettext("There is no authenticator app to remove.")


class TotpCodeForm(FlaskForm):
    # Named for the factor: the challenge page holds every factor's form, and ids must stay unique.
    totp_code = StringField(
        lazy_gettext("6-digit code"),
        filters=[without_spaces],
        validators=[
            DataRequired(lazy_gettext("Enter the 6-digit code from your authenticator app.")),
            Regexp(r"^[0-9]{6}$", message=lazy_gettext("The code is 6 digits (spaces are fine).")),
        ],
    )


def _first_error(form: FlaskForm) -> str:
    return [error for errors in form.errors.values() for error in errors][0]


@bp.post("/totp/setup")
@enrolment_form
def setup_totp(user: User, user_session: UserSession):
    """A new seed, shown once in this response (QR code and text); it counts only once confirmed."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        secret = service.start_totp_enrolment(user)
    except service.TotpAlreadyEnrolled:
        return render_security(user, user_session, status=400, totp_error=ALREADY_ENROLLED)
    db.session.commit()
    setup = service.describe_setup(secret, account=user.email, issuer=current_app.config["SERVICE_NAME"])
    return render_security(user, user_session, totp_setup=setup, totp_form=TotpCodeForm(formdata=None))


@bp.post("/totp/confirm")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@enrolment_form
def confirm_totp(user: User, user_session: UserSession):
    """The first code proves the app holds the seed; a pending must-enrol session is signed in by it."""
    form = TotpCodeForm()
    if not form.validate_on_submit():
        return render_security(user, user_session, status=400, totp_form=form)  # the field shows its error
    try:
        confirmed = service.confirm_totp_enrolment(user, form.totp_code.data, origin=request_origin())
    except service.NoTotpSetup:
        return render_security(user, user_session, status=400, totp_error=NO_SETUP)
    if not confirmed:
        # Still unconfirmed: the same app can try its next code, or the person starts again.
        retry = TotpCodeForm(formdata=None)
        return render_security(user, user_session, status=400, totp_error=WRONG_CODE, totp_form=retry)
    return finish_enrolment(user_session, KIND, ENROLLED)


@bp.post("/totp/remove")
@fresh_auth_required
def remove_totp():
    """A sensitive change: needs a recent second-factor proof (fresh_auth_required), then mails a notice."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = current_user.user
    if not may_remove(user, KIND):
        return render_security(user, current_user.session, status=400, totp_error=KEEP_ONE)
    if not service.remove_totp(user, origin=request_origin()):
        flash(str(NOT_ENROLLED), "info")
        return see_other(url_for("mfa.security"))
    db.session.commit()
    send_factor_notice(user, KIND, "removed")
    flash(str(REMOVED), "success")
    return see_other(url_for("mfa.security"))


@bp.post("/challenge/totp")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@challenge_form
def challenge_totp(user: User, user_session: UserSession):
    """A code from the app answers the sign-in challenge or a step-up; a wrong one counts toward the lockout."""
    form = TotpCodeForm()
    if not form.validate_on_submit():
        return render_challenge(user, user_session, error=_first_error(form), status=400)
    if not service.check_totp(user, form.totp_code.data):
        if not fail_challenge(user, KIND, user_session):  # a parallel copy with the right code won: not a failure
            return render_challenge(user, user_session, error=ALREADY_PROVED, status=409)
        return render_challenge(user, user_session, error=WRONG_CODE, status=401)
    return complete_challenge(user_session, KIND)
