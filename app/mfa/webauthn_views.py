"""Security keys and passkeys: JSON endpoints for the ceremonies (driven by static/webauthn.js) and the manage forms.

Options and verify endpoints are POST with the CSRF token in an X-CSRFToken header. The browser keeps
only the challenge row's id, in Flask's session; each answer consumes it whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, current_app, flash, jsonify, request, session, url_for
from flask_babel import gettext
from flask_limiter import RateLimitExceeded
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField

from app.core.factors import has_mfa
from app.core.sessions import revoke_session
from app.core.sign_in import KEEP_ONE, challenge_locked, is_fresh, may_remove
from app.core.text import lazy_gettext
from app.extensions import db, limiter
from app.mfa import bp, passkey_cookie
from app.mfa import webauthn as service
from app.mfa import webauthn_sign_in as proof
from app.mfa.flow import after_enrolment, challenge_subject, complete_challenge, enrolment_subject, fail_challenge
from app.mfa.views import render_security
from app.models import SignInStage, User
from app.models.mfa import ChallengePurpose
from app.web.browser_session import attach_to_browser, pending_session
from app.web.forms import ConfirmForm
from app.web.fresh_auth import fresh_auth_required
from app.web.json_input import JsonInputError, read_json
from app.web.limits import configured
from app.web.next_url import landing, remember_next
from app.web.notices import send_factor_notice
from app.web.signed_in import after_sign_in
from app.web.views import request_origin, see_other

LOCKED = lazy_gettext("Too many failed attempts. Wait a few minutes, then try again.")
SIGNED_OUT = lazy_gettext("Your sign-in has ended. Sign in again.")
CONFIRM_FIRST = lazy_gettext("Confirm it's you first.")
LIMITED = lazy_gettext("Too many attempts. Wait a little and try again.")


def _session_key(purpose: ChallengePurpose) -> str:
    return f"webauthn_{purpose}"


def _error(reason_or_text: str, status: int, **extra) -> tuple[Response, int]:
    text = service.ERRORS.get(reason_or_text, reason_or_text)
    return jsonify(error=str(text), **extra), status  # the plain text: webauthn.js shows it with textContent


def _json_when_limited(view: Callable) -> Callable:
    """Above @limiter.limit: a ceremony's endpoint answers a rate limit in its own JSON, which webauthn.js shows
    (the error page's HTML it could only guess at). Flask-Limiter adds the Retry-After header."""

    @wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except RateLimitExceeded:
            return _error(LIMITED, 429)

    return guarded


def _body() -> dict:
    """The browser's JSON; anything not a small, shallow JSON object reads as empty (and is refused as such)."""
    try:
        body = read_json(request)
    except JsonInputError:
        return {}
    return body if isinstance(body, dict) else {}


def _options(options_json: str, challenge_row, purpose: ChallengePurpose, **remember) -> Response:
    """Send the options; the browser's Flask session keeps the challenge's id (and what it was for)."""
    session[_session_key(purpose)] = {"id": challenge_row.id, **remember}
    db.session.commit()
    return current_app.response_class(options_json, mimetype="application/json")


def _take_challenge(purpose: ChallengePurpose, user: User | None) -> tuple[bytes, dict]:
    """Consume the challenge this browser was given for `purpose` (raises WebAuthnRefused("expired"))."""
    held = session.pop(_session_key(purpose), None)
    held = held if isinstance(held, dict) else {}
    return service.consume_challenge(held.get("id"), purpose, user), held


# --- registration (security page) -------------------------------------------------------------


def _stale(user: User, user_session) -> tuple[Response, int] | None:
    """A signed-in person adding a key proves themselves first (docs/security.md: re-auth before MFA changes)."""
    if user_session.pending is not None or is_fresh(user_session, need_mfa=has_mfa(user)):
        return None
    if has_mfa(user):
        remember_next(url_for("mfa.security"))
        return _error(CONFIRM_FIRST, 401, redirect=url_for("mfa.challenge"))
    return _error(CONFIRM_FIRST, 401, redirect=url_for("auth.login", next=url_for("mfa.security"), reauth="1"))


@bp.post("/webauthn/register/options")
def webauthn_register_options():
    subject = enrolment_subject()
    if subject is None:
        return _error(SIGNED_OUT, 401, redirect=url_for("auth.login"))
    user, user_session = subject
    stale = _stale(user, user_session)
    if stale is not None:
        return stale
    passkey = _body().get("passkey") is True
    try:
        options_json, row = service.registration_options(user, passkey=passkey)
    except service.WebAuthnRefused as refused:
        return _error(refused.reason, 400)
    return _options(options_json, row, ChallengePurpose.REGISTER, passkey=passkey)


@bp.post("/webauthn/register/verify")
def webauthn_register_verify():
    subject = enrolment_subject()
    if subject is None:
        return _error(SIGNED_OUT, 401, redirect=url_for("auth.login"))
    user, user_session = subject
    body = _body()
    try:
        challenge, held = _take_challenge(ChallengePurpose.REGISTER, user)
        passkey = held.get("passkey") is True  # what the options asked for, not what this request claims
        name = service.clean_name(body.get("name"), passkey=passkey)
        credential = service.register_credential(
            user, challenge, body.get("credential"), passkey=passkey, name=name, origin=request_origin()
        )
    except service.WebAuthnRefused as refused:
        db.session.commit()  # the challenge stays used
        return _error(refused.reason, 400)
    kind = service.kind_of(credential)
    db.session.commit()
    send_factor_notice(user, kind, "added")
    if user_session.pending == SignInStage.ENROL:
        then = complete_challenge(user_session, kind).location
    else:
        if credential.is_passkey:
            added = gettext("“%(name)s” was added. You can sign in with it, no password needed.", name=credential.name)
        else:
            added = gettext("“%(name)s” was added. You can use it after your password when you sign in.", name=credential.name)
        flash(added, "success")
        then = url_for("mfa.security")
    return jsonify(redirect=after_enrolment(user_session, then).location)


# --- second factor after the password (challenge page) ----------------------------------------


@bp.post("/webauthn/authenticate/options")
@_json_when_limited
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
def webauthn_authenticate_options():
    subject = challenge_subject()
    if subject is None:
        return _error(SIGNED_OUT, 401, redirect=url_for("auth.login"))
    user, _user_session = subject
    if challenge_locked(user):
        return _error(LOCKED, 429)
    options_json, row = proof.second_factor_options(user)
    return _options(options_json, row, ChallengePurpose.AUTHENTICATE)


@bp.post("/webauthn/authenticate/verify")
@_json_when_limited
@limiter.limit(configured("LIMIT_MFA_CHALLENGE"), methods=["POST"])
def webauthn_authenticate_verify():
    subject = challenge_subject()
    if subject is None:
        return _error(SIGNED_OUT, 401, redirect=url_for("auth.login"))
    user, user_session = subject
    if challenge_locked(user):
        return _error(LOCKED, 429)
    body = _body()
    try:
        challenge, _held = _take_challenge(ChallengePurpose.AUTHENTICATE, user)
        proof.verify_second_factor(user, challenge, body.get("credential"), origin=request_origin())
    except service.WebAuthnRefused as refused:
        if refused.reason == "malformed":
            db.session.commit()  # the challenge stays used; unreadable input is no guess at the factor
            return _error(refused.reason, 400)
        fail_challenge(user, "webauthn")  # counts toward the lockout; commits the used challenge too
        return _error(refused.reason, 401)
    trust = body.get("trust_browser") is True  # the challenge page's "Trust this browser" box, sent by webauthn.js
    return jsonify(redirect=complete_challenge(user_session, "webauthn", trust=trust).location)


# --- passwordless sign-in (sign-in page) ------------------------------------------------------


@bp.post("/passkey/options")
@_json_when_limited
@limiter.limit(configured("LIMIT_PASSKEY_OPTIONS_IP"), methods=["POST"])  # every sign-in page load asks (autofill)
def passkey_options():
    options_json, row = proof.passkey_options()
    db.session.commit()
    # Not in the Flask session: this answer must never rewrite the session cookie (see passkey_cookie).
    return passkey_cookie.hold(current_app.response_class(options_json, mimetype="application/json"), row.id)


@bp.post("/passkey/verify")
@_json_when_limited
@limiter.limit(configured("LIMIT_LOGIN_IP"), methods=["POST"])
def passkey_verify():
    body = _body()
    origin = request_origin()
    try:
        challenge = service.consume_challenge(passkey_cookie.held_challenge_id(), ChallengePurpose.PASSKEY, None)
        credential = proof.verify_passkey(challenge, body.get("credential"), origin=origin)
        sign_in = proof.sign_in_with_passkey(credential, origin=origin)
        if sign_in is None:
            raise service.WebAuthnRefused("sign_in_refused")
    except service.WebAuthnRefused as refused:
        db.session.commit()  # the used challenge, the counter and the audit events are kept
        return _error(refused.reason, 400 if refused.reason == "malformed" else 401)
    for held in (current_user.session, pending_session()):
        if held is not None:
            revoke_session(held, reason="replaced")  # ASVS 7.2.4: the session this browser held ends with its cookie
    db.session.commit()
    attach_to_browser(sign_in.user, sign_in.user_session, sign_in.cookie_value)
    after_sign_in(sign_in.user_session)
    db.session.commit()
    next_url = body.get("next") if isinstance(body.get("next"), str) else None
    return passkey_cookie.forget(jsonify(redirect=landing(next_url)))


# --- managing credentials (security page) -----------------------------------------------------


class CredentialRenameForm(FlaskForm):
    name = StringField(lazy_gettext("New name"))


def _own_credential_or_404(credential_id: int):
    credential = service.find_credential(current_user.user, credential_id)
    if credential is None:
        abort(404)
    return credential


@bp.post("/webauthn/<int:credential_id>/rename")
def webauthn_rename(credential_id: int):
    if not current_user.is_authenticated:
        return see_other(url_for("auth.login", next=url_for("mfa.security")))
    credential = _own_credential_or_404(credential_id)
    form = CredentialRenameForm()
    if not form.validate_on_submit():
        return render_security(current_user.user, current_user.session, status=400)
    try:
        name = service.clean_name(form.name.data, passkey=credential.is_passkey)
    except service.WebAuthnRefused as refused:
        return render_security(current_user.user, current_user.session, status=400, webauthn_error=refused.message)
    service.rename_credential(credential, name)
    db.session.commit()
    flash(gettext("Renamed to “%(name)s”.", name=name), "success")
    return see_other(url_for("mfa.security"))


@bp.post("/webauthn/<int:credential_id>/delete")
@fresh_auth_required
def webauthn_delete(credential_id: int):
    user = current_user.user
    credential = _own_credential_or_404(credential_id)
    if not ConfirmForm().validate_on_submit():
        return render_security(user, current_user.session, status=400)
    if len(service.credentials_of(user)) == 1 and not may_remove(user, "webauthn"):  # its last key
        return render_security(user, current_user.session, status=400, webauthn_error=KEEP_ONE)
    name = credential.name
    kind = service.remove_credential(user, credential, origin=request_origin())
    db.session.commit()
    send_factor_notice(user, kind, "removed")
    flash(gettext("“%(name)s” was removed. It can no longer be used to sign in.", name=name), "success")
    return see_other(url_for("mfa.security"))
