"""Recovery-code routes: create a new set (shown once, in the response), and the challenge with a code."""

from __future__ import annotations

from flask import abort, current_app, flash
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.extensions import db, limiter
from app.mfa import bp
from app.mfa import recovery as service
from app.mfa.flow import ALREADY_PROVED, complete_challenge, fail_challenge
from app.mfa.views import challenge_form, render_challenge, render_security
from app.models import User, UserSession
from app.web.forms import ConfirmForm
from app.web.fresh_auth import fresh_auth_required
from app.web.limits import configured
from app.web.notices import send_factor_notice
from app.web.views import request_origin

KIND = "recovery"
WRONG_CODE = "That recovery code didn't work. It may be mistyped or already used; each code works once."
NEEDS_FACTOR = "Set up a second factor first: recovery codes stand in for it when it's lost."
FEW_LEFT = "You have {left} recovery code{s} left. Create a new set on the two-step verification page."


class RecoveryCodeForm(FlaskForm):
    # Named for the factor: the challenge page holds every factor's form, and ids must stay unique.
    recovery_code = StringField(
        "Recovery code",
        validators=[
            DataRequired("Enter one of your recovery codes."),
            Length(max=service.MAX_CODE_INPUT, message="That is longer than a recovery code."),
        ],
    )


def _first_error(form: FlaskForm) -> str:
    return next(iter(error for errors in form.errors.values() for error in errors))


def _download_text(user: User, codes: list[str]) -> str:
    """The text file a person can keep: what the codes are for, then one code a line."""
    name = current_app.config["SERVICE_NAME"]
    header = [f"Recovery codes for {user.email} at {name}.", "Each code works once. Keep them somewhere safe.", ""]
    return "\n".join([*header, *codes, ""])


@bp.post("/recovery/generate")
@fresh_auth_required
def generate_recovery_codes():
    """A new set replaces the old one; the codes are shown in this response only (never stored in clear).

    Fresh authentication even for the first set: a stolen session must not mint a way around the factor.
    """
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user, user_session = current_user.user, current_user.session
    try:
        codes = service.generate_recovery_codes(user, origin=request_origin())
    except service.RecoveryCodesUnavailable:
        return render_security(user, user_session, status=400, recovery_error=NEEDS_FACTOR)
    db.session.commit()
    send_factor_notice(user, KIND, "regenerated")
    return render_security(user, user_session, recovery_codes_new=codes, recovery_codes_file=_download_text(user, codes))


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
        flash(FEW_LEFT.format(left=remaining, s="" if remaining == 1 else "s"), "warning")
    return response
