"""The sessions page: every browser signed in to the account, with a way to end one or all the others."""

from __future__ import annotations

from flask import abort, flash, render_template, url_for
from flask_login import current_user, login_required

from app.account import bp
from app.core import live_sessions as service
from app.core.durations import describe_age
from app.extensions import db
from app.web.browser_session import detach_from_browser
from app.web.forms import ConfirmForm
from app.web.messages import message
from app.web.views import request_origin, see_other

ENDED = "That session has ended; the browser that used it is signed out."
ENDED_OTHERS = {0: "There were no other sessions to end.", 1: "Your other session has ended."}


@bp.get("/sessions")
@login_required
def sessions():
    listed = service.active_sessions(current_user.user, current=current_user.session)
    return render_template("account/sessions.html", sessions=listed, describe_age=describe_age)


@bp.post("/sessions/<session_id>/end")
@login_required
def end_session(session_id: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user, current = current_user.user, current_user.session
    target = service.find_own_session(user, session_id)
    if target is None:
        abort(404)  # someone else's, unknown or already ended: all look alike
    service.end_session(user, target, current=current, origin=request_origin())
    db.session.commit()
    if target.id == current.id:
        detach_from_browser()
        flash(message("logout"), "info")
        return see_other(url_for("auth.login"))
    flash(ENDED, "success")
    return see_other(url_for("account.sessions"))


@bp.post("/sessions/end-others")
@login_required
def end_other_sessions():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ended = service.end_other_sessions(current_user.user, current=current_user.session, origin=request_origin())
    db.session.commit()
    flash(ENDED_OTHERS.get(ended, f"Your {ended} other sessions have ended."), "success")
    return see_other(url_for("account.sessions"))
