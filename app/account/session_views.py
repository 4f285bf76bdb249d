"""The sessions page: every browser signed in to the account, with a way to end one or all the others.

Ending another browser's session is asked on a page of its own first (GET), whose form alone carries the
confirmation the POST needs; the current browser's "Sign out on this device" needs no such page.
"""

from __future__ import annotations

from flask import abort, flash, render_template, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required

from app.account import bp
from app.account.forms import ConfirmedForm
from app.core import live_sessions as service
from app.core.durations import describe_age
from app.extensions import db
from app.web.browser_session import detach_from_browser
from app.web.messages import message
from app.web.views import request_origin, see_other


@bp.get("/sessions")
@login_required
def sessions():
    listed = service.active_sessions(current_user.user, current=current_user.session)
    return render_template("account/sessions.html", sessions=listed, describe_age=describe_age, form=ConfirmedForm.to_send())


def _own_session_or_404(session_id: str):
    target = service.find_own_session(current_user.user, session_id)
    if target is None:
        abort(404)  # someone else's, unknown or already ended: all look alike
    return target


@bp.get("/sessions/<session_id>/end")
@login_required
def confirm_end_session(session_id: str):
    target = _own_session_or_404(session_id)
    if target.id == current_user.session.id:
        return see_other(url_for("account.sessions"))  # this device signs out from the list, no question asked
    device = service.describe_device(target.user_agent)
    return render_template("account/confirm_end_session.html", row=target, device=device, form=ConfirmedForm.to_send())


@bp.post("/sessions/<session_id>/end")
@login_required
def end_session(session_id: str):
    if not ConfirmedForm().validate_on_submit():
        abort(400)
    user, current = current_user.user, current_user.session
    target = _own_session_or_404(session_id)
    service.end_session(user, target, current=current, origin=request_origin())
    db.session.commit()
    if target.id == current.id:
        detach_from_browser()
        flash(message("logout"), "info")
        return see_other(url_for("auth.login"))
    flash(gettext("That session has ended; the browser that used it is signed out."), "success")
    return see_other(url_for("account.sessions"))


@bp.get("/sessions/end-others")
@login_required
def confirm_end_other_sessions():
    others = len(service.active_sessions(current_user.user, current=current_user.session)) - 1
    return render_template("account/confirm_end_other_sessions.html", others=others, form=ConfirmedForm.to_send())


@bp.post("/sessions/end-others")
@login_required
def end_other_sessions():
    if not ConfirmedForm().validate_on_submit():
        abort(400)
    ended = service.end_other_sessions(current_user.user, current=current_user.session, origin=request_origin())
    db.session.commit()
    if ended == 0:
        flash(gettext("There were no other sessions to end."), "success")
    else:
        flash(ngettext("Your other session has ended.", "Your %(num)d other sessions have ended.", ended), "success")
    return see_other(url_for("account.sessions"))
