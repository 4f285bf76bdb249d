"""Console pages: the dashboard, everyone's sessions (end any) and the signing keys (rotate now)."""

from __future__ import annotations

from flask import abort, current_app, flash, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Email, Length, Optional

from app.admin import bp
from app.admin import dashboard as service
from app.admin.confirmation import ConfirmActionForm, confirm
from app.admin.svg_chart import Line, daily_line_chart
from app.core.durations import describe_age
from app.core.live_sessions import describe_device
from app.core.sessions import SessionPolicy
from app.core.text import lazy_gettext
from app.extensions import db
from app.web.browser_session import detach_from_browser
from app.web.forms import ConfirmForm
from app.web.messages import message
from app.web.numbers import bounded_int
from app.web.views import request_origin, see_other

SESSION_ENDED = lazy_gettext("The session has ended: that browser is signed out and the app access it gave is revoked.")
KEYS_ROTATED = lazy_gettext("New signing keys are active. The old ones stay published until the tokens they signed expire.")


class SessionFilterForm(FlaskForm):
    """The sessions page's filter: a GET form, so no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    email = StringField(lazy_gettext("User's email"), validators=[Optional(), Length(max=254), Email(check_deliverability=False)])


def _policy() -> SessionPolicy:
    return SessionPolicy.from_config(current_app.config)


def page_number(raw: str | None) -> int:
    """?page=N as a positive number; anything else is bad input (400, never a 500)."""
    if raw is None or raw == "":
        return 1
    number = bounded_int(raw, high=999_999)  # refuses "-1", "1.5", "²" and absurd lengths
    if number is None:
        abort(400)
    return number


@bp.get("/")
def dashboard():
    days = service.chart_days(service.today_utc())
    series = service.sign_in_series(days)
    chart = daily_line_chart(
        gettext("Sign-ins and failed sign-ins per day, last 30 days"), days, [Line(s.label, s.values) for s in series]
    )
    counts = service.headline_counts(_policy())
    return render_template("admin/dashboard.html", counts=counts, days=days, series=series, chart=chart)


@bp.get("/sessions")
def sessions():
    form = SessionFilterForm(request.args)
    if request.args.get("email") and not form.validate():
        abort(400)
    listed = service.live_sessions_page(_policy(), page_number(request.args.get("page")), email=form.email.data or None)
    if listed is None:
        abort(404)
    return render_template("admin/sessions.html", form=form, listed=listed)


@bp.route("/sessions/<session_id>/end", methods=["GET", "POST"])
def end_session(session_id: str):
    target = service.find_live_session(session_id, _policy())
    if target is None:
        abort(404)
    own = target.id == current_user.session.id
    text = gettext(
        "End the session of %(email)s on %(device)s? That browser is signed out and the app access it gave is revoked.",
        email=target.user.email,
        device=describe_device(target.user_agent).label,
    )
    if own:
        own_words = gettext("This is your own session here: you will be signed out of the console.")
        text = f"{text} {own_words}"
    page = confirm(gettext("End session"), text, url_for("admin.sessions"))
    if page is not None:
        return page
    service.end_user_session(current_user.user, target, origin=request_origin())
    db.session.commit()
    if own:
        detach_from_browser()  # the operator ended their own browser's session
        flash(message("logout"), "info")
        return see_other(url_for("auth.login"))
    flash(str(SESSION_ENDED), "success")
    return see_other(url_for("admin.sessions"))


def _keys_page(form: ConfirmForm | ConfirmActionForm, *, confirming: bool) -> str:
    entries = service.signing_keys()
    return render_template(
        "admin/keys.html",
        entries=entries,
        describe_age=describe_age,
        form=form,
        confirming=confirming,
        activation_minutes=max(1, current_app.config["KEY_ACTIVATION_SECONDS"] // 60),
    )


@bp.get("/keys")
def keys():
    return _keys_page(ConfirmForm(), confirming=False)


@bp.route("/keys/rotate", methods=["GET", "POST"])
def rotate_keys():
    """GET: what rotation does, and the button. POST: rotate (CSRF-bound)."""
    form = ConfirmActionForm()
    if request.method == "GET":
        return _keys_page(form, confirming=True)
    if not form.validate_on_submit():
        abort(400)  # a POST without the confirm page's confirmed=yes
    service.rotate_signing_keys(current_user.user, origin=request_origin())
    db.session.commit()
    flash(str(KEYS_ROTATED), "success")
    return see_other(url_for("admin.keys"))
