"""The person's data: download everything held about them, or delete the account altogether."""

from __future__ import annotations

import json

from flask import abort, current_app, make_response, render_template, request
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from app.account import bp
from app.account import export as export_service
from app.core import deletion as deletion_service
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User
from app.web.browser_session import detach_from_browser
from app.web.forms import ConfirmForm
from app.web.fresh_auth import fresh_auth_required
from app.web.notices import send_account_deleted
from app.web.views import request_origin


class DeleteAccountForm(FlaskForm):
    confirm_email = StringField(
        lazy_gettext("Type your email address to confirm"),
        validators=[
            DataRequired(deletion_service.WRONG_CONFIRMATION),
            Length(max=254, message=deletion_service.WRONG_CONFIRMATION),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_confirm_email(self, field) -> None:
        if not deletion_service.confirmation_matches(self.user, field.data):
            raise ValidationError(deletion_service.WRONG_CONFIRMATION)


@bp.route("/export", methods=["GET", "POST"])
@login_required
@fresh_auth_required
def export():
    """GET: what the download holds, and its button. POST: the download itself (a POST, so it is CSRF-bound)."""
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("account/export.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    return _download(current_user.user)


def _download(user: User) -> Response:
    data = export_service.build_export(user, service_name=current_app.config["SERVICE_NAME"])
    export_service.record_export(user, origin=request_origin())
    db.session.commit()
    response = make_response(json.dumps(data, indent=2, ensure_ascii=False))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="{export_service.export_filename(user)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/delete", methods=["GET", "POST"])
@login_required
@fresh_auth_required
def delete():
    """GET: the consequences and the form. POST: delete, sign this browser out, say goodbye."""
    user = current_user.user
    form = DeleteAccountForm(user=user)
    if request.method == "GET":
        return render_template("account/delete.html", form=form, user=user)
    if not form.validate_on_submit():
        return render_template("account/delete.html", form=form, user=user), 400
    address, name, locale = user.email, user.display_name, user.locale  # the goodbye mail outlives the row
    try:
        account_ref = deletion_service.delete_account(user, origin=request_origin())
    except deletion_service.DeletionRefused as refused:
        db.session.rollback()
        return render_template("account/delete.html", form=form, user=user, error=str(refused)), 400
    db.session.commit()
    detach_from_browser()
    send_account_deleted(address, name, account_ref, locale=locale)
    return render_template("account/delete.html", deleted_ref=account_ref)
