"""The password page: change it with the current one (or a fresh passkey sign-in); other sessions end."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_login import current_user, login_required

from app.account import bp
from app.account.forms import PasswordChangeForm
from app.account.password import CurrentPasswordRefused, change_password, needs_current_password
from app.core.accounts import PasswordRejected, password_rules
from app.core.text import lazy_gettext
from app.extensions import db
from app.web.fresh_auth import fresh_auth_required
from app.web.notices import send_password_changed
from app.web.views import request_origin, see_other

WRONG_CURRENT = lazy_gettext("That is not your current password. Nothing was changed.")
LOCKED = lazy_gettext("Too many wrong passwords. Wait a few minutes, then try again. Nothing was changed.")
CHANGED = lazy_gettext("Your password is changed. Every other session was signed out.")


@bp.route("/password", methods=["GET", "POST"])
@login_required
@fresh_auth_required
def password():
    user, user_session = current_user.user, current_user.session
    needs_current = needs_current_password(user_session)
    form = PasswordChangeForm(needs_current=needs_current)
    if not form.validate_on_submit():
        return _render(form, needs_current, 400 if request.method == "POST" else 200)
    current = form.current_password.data if needs_current else None
    try:
        change_password(user, user_session, current=current, new=form.new_password.data, origin=request_origin())
    except CurrentPasswordRefused as refused:
        db.session.commit()  # the failed attempt and its audit event are kept, nothing else changed
        form.current_password.errors = [LOCKED if refused.locked else WRONG_CURRENT]
        return _render(form, needs_current, 400)
    except PasswordRejected as rejected:
        form.new_password.errors = list(rejected.problems)
        return _render(form, needs_current, 400)
    db.session.commit()
    send_password_changed(user, this_device_kept=True)
    flash(str(CHANGED), "success")
    return see_other(url_for("account.password"))


def _render(form: PasswordChangeForm, needs_current: bool, status: int):
    # Password fields never echo what was typed (WTForms' PasswordField hides the value).
    min_length = password_rules(current_user.user).min_length
    page = render_template(
        "account/password.html",
        form=form,
        needs_current=needs_current,
        has_password=bool(current_user.user.password_hash),
        min_length=min_length,
    )
    return page, status
