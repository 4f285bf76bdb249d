"""Text-message routes: add a number (a code is texted to it), confirm it, remove it, and the challenge."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import abort, flash, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField, TelField
from wtforms.validators import DataRequired, Regexp, ValidationError

from app.core.sign_in import KEEP_ONE, may_remove
from app.core.sms_senders import SmsSendError, mask_phone, sms_sender
from app.core.text import lazy_gettext
from app.extensions import db, limiter
from app.mfa import bp
from app.mfa import sms as service
from app.mfa.flow import complete_challenge, fail_challenge, finish_enrolment
from app.mfa.views import challenge_form, enrolment_form, render_challenge, render_security
from app.models import PhoneFactor, User, UserSession
from app.web.forms import ConfirmForm, without_spaces
from app.web.fresh_auth import fresh_auth_required
from app.web.limits import configured
from app.web.notices import send_factor_notice
from app.web.views import request_origin, see_other

log = logging.getLogger(__name__)

KIND = "sms"
BAD_PHONE = lazy_gettext("Enter a mobile number starting with + and the country code, for example +44 7700 900123.")
WRONG_CODE = lazy_gettext("That code didn't work. Enter the newest code we texted you; each code works once, for a few minutes.")
TOO_MANY_TEXTS = lazy_gettext(
    "We've already sent you several texts in the last hour. Wait a while before asking for another code."
)
SEND_FAILED = lazy_gettext("We couldn't send the text message just now. Please try again in a few minutes.")
RESTRICTED = lazy_gettext(
    "Text messages can be intercepted, so an administrator's account needs an authenticator app or a "
    "security key. Set one of those up first; then you can add a phone as well."
)
SMS_OFF = lazy_gettext("This service doesn't send text messages, so a phone number can't be added.")
ALREADY_ENROLLED = lazy_gettext("A phone number is already set up. Remove it first to use a different one.")
NO_SETUP = lazy_gettext("There is no phone number waiting for a code. Enter your number again.")
NO_PHONE = lazy_gettext("There is no verified phone number on your account.")
ENROLLED = lazy_gettext("Your phone number is verified. Signing in can now use a code sent by text message.")
REMOVED = lazy_gettext("Your phone number was removed.")
CANCELLED = lazy_gettext("The unverified phone number was removed.")
NOT_ENROLLED = lazy_gettext("There is no phone number to remove.")


class SmsPhoneForm(FlaskForm):
    sms_phone = TelField(lazy_gettext("Mobile number"), validators=[DataRequired(BAD_PHONE)])

    def validate_sms_phone(self, field: TelField) -> None:
        self.phone_e164 = service.normalize_phone(field.data)
        if self.phone_e164 is None:
            raise ValidationError(BAD_PHONE)


class SmsCodeForm(FlaskForm):
    # Named for the factor: the challenge page holds every factor's form, and ids must stay unique.
    sms_code = StringField(
        lazy_gettext("Code from the text message"),
        filters=[without_spaces],
        validators=[
            DataRequired(lazy_gettext("Enter the 6-digit code we texted you.")),
            Regexp(r"^[0-9]{6}$", message=lazy_gettext("The code is 6 digits (spaces are fine).")),
        ],
    )


def _first_error(form: FlaskForm) -> str:
    return next(iter(error for errors in form.errors.values() for error in errors))


@bp.context_processor
def _sms_context() -> dict[str, object]:
    # Functions, called only by the SMS partials: other MFA pages pay nothing.
    return {
        "sms_phone_of": service.phone_factor,
        "sms_allowed": service.sms_allowed_for,
        "sms_offered": service.sms_offered,
        "sms_waiting": service.waiting_for_code,
        "sms_mask": mask_phone,
        "sms_lifetime": service.lifetime_text,
        "sms_new_phone_form": lambda: SmsPhoneForm(formdata=None),
        "sms_new_code_form": lambda: SmsCodeForm(formdata=None),
    }


def _send_failure(error: Exception) -> tuple[str, int]:
    """What a person is told when no text went out; the code row (if any) is committed by the caller."""
    if isinstance(error, service.SmsRateLimited):
        return TOO_MANY_TEXTS, 429
    log.warning("SMS not sent: %s", error)
    return SEND_FAILED, 503


def _code_sent(phone: PhoneFactor, page: str) -> Response:
    """A text went out: keep its code, say where it went, and back to the page that asks for it."""
    db.session.commit()
    sent = gettext(
        "We texted a code to %(phone)s. It works for the next %(lifetime)s.",
        phone=mask_phone(phone.phone_e164),
        lifetime=service.lifetime_text(),
    )
    flash(sent, "info")
    return see_other(url_for(page))


def _text_code(
    send: Callable[..., PhoneFactor], user: User, *, page: str, refuse: Callable[[str, int], ResponseReturnValue]
) -> ResponseReturnValue:
    """The "text me a (new) code" buttons: ``send`` texts the number; back to ``page``, or ``refuse(message, status)``.

    A failed send is committed too: it counts toward the hourly limit (see service.send_code).
    NoPhoneSetup (nothing to text) is left to the caller: the security and challenge pages answer it differently.
    """
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        phone = send(user, sender=sms_sender(), origin=request_origin())
    except (service.SmsRateLimited, SmsSendError) as error:
        db.session.commit()
        return refuse(*_send_failure(error))
    return _code_sent(phone, page)


def _security_error(user: User, user_session: UserSession, error: str, status: int):
    db.session.rollback()  # nothing half-done survives a refused request
    return render_security(user, user_session, status=status, sms_error=error)


@bp.post("/sms/setup")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@enrolment_form
def setup_sms(user: User, user_session: UserSession):
    """Save the number unverified and text it a code; it counts as a factor once the code comes back."""
    form = SmsPhoneForm()
    if not form.validate_on_submit():
        return render_security(user, user_session, status=400, sms_phone_form=form)  # the field shows its error
    if not service.sms_offered():
        return _security_error(user, user_session, SMS_OFF, 400)
    try:
        phone = service.start_enrolment(user, form.phone_e164, sender=sms_sender(), origin=request_origin())
    except service.SmsRestricted:
        return _security_error(user, user_session, RESTRICTED, 400)
    except service.PhoneAlreadyEnrolled:
        return _security_error(user, user_session, ALREADY_ENROLLED, 400)
    except service.SmsRateLimited as error:
        return _security_error(user, user_session, *_send_failure(error))
    except SmsSendError as error:
        db.session.commit()  # the number waits unverified, and the try counts; "text me a new code" retries
        message, status = _send_failure(error)
        return render_security(user, user_session, status=status, sms_error=message)
    return _code_sent(phone, "mfa.security")


@bp.post("/sms/resend")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@enrolment_form
def resend_sms(user: User, user_session: UserSession):
    """Another code for the number waiting to be verified (the earlier one stops working)."""

    def refuse(message: str, status: int):
        return render_security(user, user_session, status=status, sms_error=message)

    try:
        return _text_code(service.resend_enrolment_code, user, page="mfa.security", refuse=refuse)
    except service.NoPhoneSetup:
        return _security_error(user, user_session, NO_SETUP, 400)


@bp.post("/sms/confirm")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@enrolment_form
def confirm_sms(user: User, user_session: UserSession):
    """The texted code proves the number; a pending must-enrol session is signed in by it."""
    form = SmsCodeForm()
    if not form.validate_on_submit():
        return render_security(user, user_session, status=400, sms_code_form=form)
    try:
        confirmed = service.confirm_enrolment(user, form.sms_code.data, origin=request_origin())
    except service.NoPhoneSetup:
        return _security_error(user, user_session, NO_SETUP, 400)
    except service.SmsRestricted:
        return _security_error(user, user_session, RESTRICTED, 400)
    if not confirmed:
        db.session.commit()  # the used try counts: a code allows only a few
        return render_security(user, user_session, status=400, sms_error=WRONG_CODE)
    return finish_enrolment(user_session, KIND, ENROLLED)


@bp.post("/sms/remove")
@fresh_auth_required
def remove_sms():
    """A sensitive change: needs a recent second-factor proof (fresh_auth_required), then mails a notice."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = current_user.user
    if service.has_verified_phone(user) and not may_remove(user, KIND):
        return render_security(user, current_user.session, status=400, sms_error=KEEP_ONE)
    removed = service.remove_phone(user, origin=request_origin())
    if removed is None:
        flash(str(NOT_ENROLLED), "info")
        return see_other(url_for("mfa.security"))
    db.session.commit()
    if removed:
        send_factor_notice(user, KIND, "removed")
    flash(str(REMOVED if removed else CANCELLED), "success")
    return see_other(url_for("mfa.security"))


@bp.post("/challenge/sms/send")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@challenge_form
def challenge_sms_send(user: User, user_session: UserSession) -> Response | tuple:
    """Text a sign-in code to the verified number, then back to the challenge page, which asks for it."""

    def refuse(message: str, status: int):
        return render_challenge(user, user_session, error=message, status=status)

    try:
        return _text_code(service.send_signin_code, user, page="mfa.challenge", refuse=refuse)
    except service.NoPhoneSetup:
        return render_challenge(user, user_session, error=NO_PHONE, status=400)


@bp.post("/challenge/sms")
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
@challenge_form
def challenge_sms(user: User, user_session: UserSession) -> Response | tuple:
    form = SmsCodeForm()
    if not form.validate_on_submit():
        return render_challenge(user, user_session, error=_first_error(form), status=400)
    if not service.check_signin_code(user, form.sms_code.data):
        fail_challenge(user, KIND)  # commits the used try with the failure
        return render_challenge(user, user_session, error=WRONG_CODE, status=401)
    return complete_challenge(user_session, KIND)
