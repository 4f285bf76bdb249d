"""The connected apps page: which apps may use the account, and disconnecting one (asked on a page of its own first)."""

from __future__ import annotations

from flask import abort, flash, make_response, render_template, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from app.account import apps as service
from app.account import bp
from app.account.forms import ConfirmedForm
from app.extensions import db
from app.web.headers import allow_client_logos
from app.web.views import request_origin, see_other


@bp.get("/apps")
@login_required
def apps():
    page = render_template("account/apps.html", apps=service.connected_apps(current_user.user))
    return allow_client_logos(make_response(page))


def _connected_or_404(client_id: str):
    client = service.find_connected_client(current_user.user, client_id)
    if client is None:
        abort(404)  # unknown, or not connected to this account: alike
    return client


@bp.get("/apps/<path:client_id>/revoke")
@login_required
def confirm_revoke_app(client_id: str):
    client = _connected_or_404(client_id)
    return render_template("account/confirm_revoke_app.html", client=client, form=ConfirmedForm.to_send())


@bp.post("/apps/<path:client_id>/revoke")
@login_required
def revoke_app(client_id: str):
    if not ConfirmedForm().validate_on_submit():
        abort(400)
    user = current_user.user
    client = _connected_or_404(client_id)
    name = client.name
    service.disconnect_app(user, client, origin=request_origin())
    db.session.commit()
    flash(
        gettext("%(app)s no longer has access to your account. It must ask you again before it can use it.", app=name), "success"
    )
    return see_other(url_for("account.apps"))
