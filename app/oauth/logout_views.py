"""The end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0) and its confirmation page."""

from __future__ import annotations

from flask import abort, redirect, render_template, request
from flask_login import current_user

from app.extensions import csrf, db
from app.oauth import bp, logout
from app.oauth.forms import LogoutConfirmForm
from app.web.browser_session import detach_from_browser
from app.web.views import request_origin


@bp.route("/oauth/logout", methods=["GET", "POST"])
@csrf.exempt  # an app may POST here cross-site (§2); only a hint tied to this very session acts without asking
def end_session():
    logout_request = logout.read_logout_request(request.values)
    user_session = current_user.session  # None when nobody is signed in
    if logout_request.is_for_session(user_session):
        return _sign_out(logout_request, confirmed=False)
    if user_session is None and not _cookie_may_be_withheld(logout_request):
        return _finish(logout_request)  # nothing to end in this browser
    form = LogoutConfirmForm(formdata=None, data=logout_request.params)
    return render_template("oauth/logout_confirm.html", form=form, client=logout_request.client)


def _cookie_may_be_withheld(logout_request: logout.LogoutRequest) -> bool:
    """A cross-site POST carries no SameSite=Lax cookie: a signed-in person looks signed out, so ask instead."""
    if request.method != "POST":
        return False
    return logout_request.hint is None or logout.hinted_session_is_live(logout_request.hint)


@bp.post("/oauth/logout/confirm")
def confirm_end_session():
    """The person's own answer on the confirmation page (CSRF-protected); the request is checked again."""
    form = LogoutConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    logout_request = logout.read_logout_request(form.data)
    if current_user.is_authenticated:
        return _sign_out(logout_request, confirmed=True)
    return _finish(logout_request)


def _sign_out(logout_request: logout.LogoutRequest, *, confirmed: bool):
    logout.end_session(current_user.session, client=logout_request.client, confirmed=confirmed, origin=request_origin())
    db.session.commit()
    detach_from_browser()
    return _finish(logout_request)


def _finish(logout_request: logout.LogoutRequest):
    """Back to the app only through a validated post_logout_redirect_uri (303 after a POST); else our own page."""
    if logout_request.redirect_uri:
        return redirect(logout_request.redirect_uri, code=303 if request.method == "POST" else 302)
    return render_template("oauth/logged_out.html", client=logout_request.client)
