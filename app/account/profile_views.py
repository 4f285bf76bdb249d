"""The profile page (names, locale, time zone) and the email change it starts, confirmed by an emailed link."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user, login_required

from app.account import bp
from app.account import profile as service
from app.account.forms import EmailChangeForm, ProfileEditForm, time_zones
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User
from app.web.forms import ConfirmForm
from app.web.fresh_auth import fresh_auth_required
from app.web.notices import send_email_change_link, send_email_change_notice
from app.web.views import request_origin, see_other

SAVED = lazy_gettext("Your profile is saved.")
UNCHANGED = lazy_gettext("Nothing to save: your profile was already like this.")
EMAIL_UNAVAILABLE = lazy_gettext("That address can't be used. Choose another one.")
LINK_SENT = lazy_gettext("We sent a link to %(email)s. Your address changes when you open it (within an hour).")
EMAIL_CHANGED = lazy_gettext("Your email address is now %(email)s.")
LINK_INVALID = lazy_gettext("That link is invalid, used or expired. Ask for the change again on your profile page.")


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = current_user.user
    form = ProfileEditForm(obj=user)
    if not form.validate_on_submit():
        return _render(user, profile_form=form, status=400 if request.method == "POST" else 200)
    values = {name: getattr(form, name).data or "" for name in service.PROFILE_FIELDS}
    changed = service.update_profile(user, values, origin=request_origin())
    db.session.commit()
    flash(str(SAVED if changed else UNCHANGED), "success" if changed else "info")
    return see_other(url_for("account.profile"))


@bp.post("/email")
@login_required
@fresh_auth_required(back_to="account.profile")
def change_email():
    user = current_user.user
    form = EmailChangeForm(current_email=user.email)
    if not form.validate_on_submit():
        return _render(user, email_form=form, status=400)
    new_email = form.new_email.data
    try:
        token = service.request_email_change(user, new_email, origin=request_origin())
    except service.EmailUnavailable:
        form.new_email.errors = [EMAIL_UNAVAILABLE]
        return _render(user, email_form=form, status=400)
    db.session.commit()
    send_email_change_link(user, new_email, token)
    send_email_change_notice(user, user.email, new_email, done=False)
    flash(LINK_SENT % {"email": new_email}, "info")
    return see_other(url_for("account.profile"))


@bp.get("/email/confirm/<token>")
@login_required
def confirm_email_change_page(token: str):
    row = service.find_email_change(token, current_user.user)
    if row is None:
        return _link_invalid()
    # A button, not a GET side effect: mail scanners that prefetch links must not move the account.
    return render_template("account/confirm_email_change.html", form=ConfirmForm(), token=token, new_email=row.email)


@bp.post("/email/confirm/<token>")
@login_required
def confirm_email_change(token: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        changed = service.confirm_email_change(token, current_user.user, origin=request_origin())
    except service.EmailUnavailable:
        return _link_invalid(EMAIL_UNAVAILABLE)
    if changed is None:
        return _link_invalid()
    db.session.commit()
    send_email_change_notice(changed.user, changed.old_email, changed.user.email, done=True)
    flash(EMAIL_CHANGED % {"email": changed.user.email}, "success")
    return see_other(url_for("account.profile"))


def _link_invalid(text: object = LINK_INVALID):
    return render_template("account/confirm_email_change.html", error=text), 400


def _render(
    user: User, *, profile_form: ProfileEditForm | None = None, email_form: EmailChangeForm | None = None, status: int = 200
):
    """The page with both forms; the one not submitted starts from the stored values."""
    return (
        render_template(
            "account/profile.html",
            user=user,
            profile_form=profile_form or ProfileEditForm(formdata=None, obj=user),
            email_form=email_form or EmailChangeForm(formdata=None, current_email=user.email),
            pending_email=service.pending_email_change(user),
            time_zones=time_zones(),
        ),
        status,
    )
