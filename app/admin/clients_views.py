"""The console's client pages: list, create (secret shown once), edit, rotate the secret, disable, delete."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from app.admin import bp
from app.admin import clients as service
from app.admin.client_forms import ClientCreateForm, ClientEditForm, settings_of
from app.admin.confirmation import ConfirmActionForm
from app.admin.sorting import sort_context
from app.core.clients import ClientSpecError
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import OAuthClient
from app.web.forms import ConfirmForm
from app.web.views import request_origin, see_other

# What each confirmed action does, for its confirmation page and the flash after it.
ACTIONS = {
    "rotate": (
        lazy_gettext("Rotate the secret"),
        lazy_gettext("The current secret stops working now; the app needs the new one, shown once."),
    ),
    "disable": (
        lazy_gettext("Disable the client"),
        lazy_gettext("The app can no longer sign people in or get tokens, and every token it holds is revoked."),
    ),
    "delete": (
        lazy_gettext("Delete the client"),
        lazy_gettext("The app, its tokens and the consents people gave it are removed. This can't be undone."),
    ),
}


def _client_or_404(client_id: str) -> OAuthClient:
    client = service.find_client(client_id)
    if client is None:
        abort(404)
    return client


def _refused(form: FlaskForm, error: ClientSpecError) -> None:
    """A registration rule said no: nothing was written, and the page shows why."""
    db.session.rollback()
    form.form_errors.append(service.refusal_text(error))


def _secret_page(client: OAuthClient, secret: str | None, heading: str):
    """The only response that ever carries the secret: rendered from the POST, never stored or redirected to."""
    page = render_template("admin/client_secret.html", client=client, secret=secret, heading=heading)
    return page, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}


@bp.get("/clients")
def clients():
    sort = service.CLIENT_SORTS.parse(request.args.get("sort"))
    context = sort_context(service.CLIENT_SORTS, sort)
    return render_template("admin/clients.html", clients=service.list_clients(sort), **context)


@bp.route("/clients/new", methods=["GET", "POST"])
def client_new():
    form = ClientCreateForm()
    if not form.validate_on_submit():
        return render_template("admin/client_new.html", form=form), 400 if form.is_submitted() else 200
    try:
        spec = form.spec(is_confidential=form.is_confidential)
        client, secret = service.add_client(
            spec,
            roles_claim=form.roles_claim.data,
            require_par=form.require_par.data,
            actor=current_user.user,
            origin=request_origin(),
        )
    except ClientSpecError as error:
        _refused(form, error)
        return render_template("admin/client_new.html", form=form), 400
    db.session.commit()
    return _secret_page(client, secret, gettext("Client created"))


@bp.get("/clients/<path:client_id>")
def client(client_id: str):
    found = _client_or_404(client_id)
    form = ClientEditForm(data=settings_of(found))
    return render_template("admin/client.html", client=found, form=form, uses_secret=service.uses_secret(found))


@bp.post("/clients/<path:client_id>/edit")
def client_edit(client_id: str):
    found = _client_or_404(client_id)
    form = ClientEditForm()
    if form.validate_on_submit():
        try:
            changed = service.update_client(
                found,
                form.spec(is_confidential=found.is_confidential),
                roles_claim=form.roles_claim.data,
                require_par=form.require_par.data,
                actor=current_user.user,
                origin=request_origin(),
            )
        except ClientSpecError as error:
            _refused(form, error)
        else:
            db.session.commit()
            service.invalidate_cached(found.client_id)
            flash(gettext("Saved.") if changed else gettext("Nothing changed."), "success")
            return see_other(url_for("admin.client", client_id=found.client_id))
    found = _client_or_404(client_id)  # reloaded: a refused edit must not show half-applied values
    return render_template("admin/client.html", client=found, form=form, uses_secret=service.uses_secret(found)), 400


def _confirm_page(client: OAuthClient, action: str):
    """The page that asks first; a POST that skipped it (no confirmed=yes) gets it back with a 400 and changes nothing."""
    title, explanation = (str(text) for text in ACTIONS[action])
    page = render_template(
        "admin/client_confirm.html", client=client, action=action, title=title, explanation=explanation, form=ConfirmActionForm()
    )
    return page, 400 if request.method == "POST" else 200


@bp.route("/clients/<path:client_id>/rotate-secret", methods=["GET", "POST"])
def client_rotate_secret(client_id: str):
    found = _client_or_404(client_id)
    if not ConfirmActionForm().validate_on_submit():
        return _confirm_page(found, "rotate")
    try:
        secret = service.rotate_secret(found, actor=current_user.user, origin=request_origin())
    except ClientSpecError as error:
        db.session.rollback()
        abort(400, service.refusal_text(error))
    db.session.commit()
    service.invalidate_cached(found.client_id)
    return _secret_page(found, secret, gettext("New secret"))


@bp.route("/clients/<path:client_id>/disable", methods=["GET", "POST"])
def client_disable(client_id: str):
    found = _client_or_404(client_id)
    if not ConfirmActionForm().validate_on_submit():
        return _confirm_page(found, "disable")
    service.disable_client(found, actor=current_user.user, origin=request_origin())
    db.session.commit()
    service.invalidate_cached(found.client_id)
    flash(gettext("%(name)s is disabled and its tokens are revoked.", name=found.name), "success")
    return see_other(url_for("admin.client", client_id=found.client_id))


@bp.post("/clients/<path:client_id>/enable")
def client_enable(client_id: str):
    found = _client_or_404(client_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service.enable_client(found, actor=current_user.user, origin=request_origin())
    db.session.commit()
    service.invalidate_cached(found.client_id)
    flash(gettext("%(name)s is enabled.", name=found.name), "success")
    return see_other(url_for("admin.client", client_id=found.client_id))


@bp.route("/clients/<path:client_id>/delete", methods=["GET", "POST"])
def client_delete(client_id: str):
    found = _client_or_404(client_id)
    if not ConfirmActionForm().validate_on_submit():
        return _confirm_page(found, "delete")
    name, removed_id = found.name, found.client_id
    service.delete_client(found, actor=current_user.user, origin=request_origin())
    db.session.commit()
    service.invalidate_cached(removed_id)
    flash(gettext("%(name)s was deleted; its tokens no longer work.", name=name), "success")
    return see_other(url_for("admin.clients"))
