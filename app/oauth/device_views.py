"""Device flow routes (RFC 8628): the device authorization endpoint, and the /device verification page."""

from __future__ import annotations

from flask import abort, jsonify, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app.core.issuance import user_can_receive_tokens
from app.core.resources import consent_groups, known_resources, scopes_outside_apis
from app.core.scopes import describe_scope
from app.core.text import lazy_gettext
from app.extensions import csrf, db, limiter
from app.models import DeviceCode
from app.net import client_ip
from app.oauth import bp, device
from app.oauth.forms import DeviceCodeEntryForm, DeviceDecisionForm
from app.oauth.grants import authorization_server
from app.web.limits import configured
from app.web.messages import message
from app.web.views import request_origin, see_other

STALE_REQUEST = lazy_gettext("That request has expired or was already answered. Start again on your device.")


def _account_key() -> str:
    """Per account when signed in, so one person can't guess codes from many addresses."""
    if current_user.is_authenticated:
        return f"device-entry:{current_user.user.id}"
    return f"device-entry-anonymous:{client_ip()}"


# Entering a code and answering share one budget: the answer form takes a code too.
_entry_ip_limit = limiter.shared_limit(configured("LIMIT_DEVICE_ENTRY_IP"), scope="device-entry-ip", methods=["POST"])
_entry_account_limit = limiter.shared_limit(
    configured("LIMIT_DEVICE_ENTRY_ACCOUNT"), scope="device-entry-account", key_func=_account_key, methods=["POST"]
)


@bp.post("/oauth/device_authorization")
@csrf.exempt
@limiter.limit(configured("LIMIT_DEVICE_AUTHORIZATION_IP"))
def device_authorization():
    """RFC 8628 3.1: client authentication as at the token endpoint; never a cookie."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return jsonify(error="invalid_request", error_description="Send the request as application/x-www-form-urlencoded."), 400
    response = authorization_server().create_endpoint_response("device_authorization", request)
    db.session.commit()
    return response


def _entry_page(form: DeviceCodeEntryForm, *, status: int = 200):
    return render_template("oauth/device_entry.html", form=form), status


def _gate(user_code: str | None = None):
    """A response when this person can't use the page yet (sign-in, confirmed email), else None."""
    if not current_user.is_authenticated:
        code = device.normalize_user_code(user_code)  # only a well-formed code is carried through sign-in
        args = {"user_code": device.format_user_code(code)} if code else {}
        next_url = url_for("oauth.device_entry", **args)
        return see_other(url_for("auth.login", next=next_url))
    if not current_user.user.is_email_verified:
        page = render_template(
            "oauth/error.html",
            title=gettext("Confirm your email address first"),
            text=message("email_unverified"),
            error="access_denied",
        )
        return page, 403
    return None


@bp.route("/device", methods=["GET", "POST"])
@_entry_ip_limit
@_entry_account_limit
def device_entry():
    """Type the code from the device (or arrive with it pre-filled), then review the request."""
    prefill = device.normalize_user_code(request.args.get("user_code"))
    form = DeviceCodeEntryForm(user_code=device.format_user_code(prefill) if prefill else None)
    blocked = _gate(request.form.get("user_code") or request.args.get("user_code"))
    if blocked is not None:
        return blocked
    if request.method == "GET":
        return _entry_page(form)
    if not form.validate_on_submit():
        if form.user_code.data:
            device.record_entry_failed(current_user.user, origin=request_origin())
            db.session.commit()
        return _entry_page(form, status=400)
    return _confirm_page(form.device_request)


def _confirm_page(row: DeviceCode):
    code = device.format_user_code(row.user_code)
    form = DeviceDecisionForm(user_code=code)
    apis = consent_groups(row.scope, known_resources(row.resources))
    return render_template(
        "oauth/device_confirm.html",
        client=row.client,
        scopes=[(s, describe_scope(s)) for s in scopes_outside_apis(row.scope)],
        apis=[(api, [(s, describe_scope(s)) for s in names]) for api, names in apis],
        user_code=code,
        form=form,
    )


@bp.post("/device/decision")
@_entry_ip_limit
@_entry_account_limit
def device_decision():
    """Approve or Deny (CSRF-protected); the code is checked again, so an expired one is refused here too."""
    form = DeviceDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    blocked = _gate(form.user_code.data)
    if blocked is not None:
        return blocked
    row = device.find_pending_by_user_code(form.user_code.data)
    approve = form.decision.data == "approve"
    if approve and not user_can_receive_tokens(current_user.user):
        abort(403)
    answer = device.approve_device_code if approve else device.deny_device_code
    # Expired, or answered (in another tab) since the review page was shown: nothing changes.
    if row is None or not answer(row, current_user.user, current_user.session, origin=request_origin()):
        entry = DeviceCodeEntryForm(user_code=form.user_code.data)
        entry.user_code.errors = [str(STALE_REQUEST)]
        return _entry_page(entry, status=400)
    db.session.commit()
    return see_other(url_for("oauth.device_done", outcome="approved" if approve else "denied"))


@bp.get("/device/done")
def device_done():
    """The last page: nothing left to do here, the device finishes on its own."""
    return render_template("oauth/device_done.html", approved=request.args.get("outcome") == "approved")
