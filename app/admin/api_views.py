"""The console's API (resource server) pages: list and register, settings, scopes, clients allowed, delete.

The rules live in app/core/apis.py (which also records the audit events); these routes parse, call it,
commit once, and show a refusal next to the field it is about.
"""

from __future__ import annotations

from functools import partial

from flask import abort, flash, render_template, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm

from app.admin import bp
from app.admin.api_forms import AllowClientForm, ApiCreateForm, ApiScopeForm, ApiSettingsForm, settings_of
from app.admin.clients import find_client
from app.admin.confirmation import confirm
from app.admin.rbac_pages import actor, confirmed_removal, refused
from app.core import apis as service
from app.core.rbac import RbacError
from app.extensions import db
from app.models import ApiResource
from app.models.rbac import CustomScope
from app.web.views import see_other


def _api_or_404(api_id: int) -> ApiResource:
    api = db.session.get(ApiResource, api_id)
    if api is None:
        abort(404)
    return api


def _list_page(status: int = 200, form: ApiCreateForm | None = None):
    page = render_template("admin/apis.html", apis=service.list_apis(), form=form or ApiCreateForm(formdata=None))
    return page, status


def _api_page(api: ApiResource, status: int = 200, **forms: FlaskForm):
    forms.setdefault("form", ApiSettingsForm(formdata=None, data=settings_of(api)))
    forms.setdefault("scope_form", ApiScopeForm(prefix="scope", formdata=None))
    forms.setdefault("allow_form", AllowClientForm(prefix="allow", formdata=None, clients=service.clients_not_allowed(api)))
    return render_template("admin/api.html", api=api, **forms), status


@bp.get("/apis")
def apis():
    return _list_page()


@bp.post("/apis/new")
def api_create():
    form = ApiCreateForm()
    if form.validate_on_submit():
        try:
            api = service.create_api(form.api_spec(), **actor())
        except RbacError as error:
            # A scope's own refusal (rbac: its name or description) belongs to the scopes box.
            is_api_field = isinstance(error, service.ApiError)
            error.field = error.field if is_api_field else "scopes"
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("API “%(name)s” registered.", name=api.name), "success")
            return see_other(url_for("admin.api", api_id=api.id))
    return _list_page(400, form)


@bp.get("/apis/<int:api_id>")
def api(api_id: int):
    return _api_page(_api_or_404(api_id))


@bp.post("/apis/<int:api_id>/edit")
def api_edit(api_id: int):
    found = _api_or_404(api_id)
    form = ApiSettingsForm()
    if form.validate_on_submit():
        try:
            service.update_api(found, form.spec(found.identifier), **actor())
        except service.ApiError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Saved."), "success")
            return see_other(url_for("admin.api", api_id=found.id))
    return _api_page(_api_or_404(api_id), 400, form=form)  # reloaded: a refused edit shows the stored values


@bp.post("/apis/<int:api_id>/scopes")
def api_scope_add(api_id: int):
    found = _api_or_404(api_id)
    form = ApiScopeForm(prefix="scope")
    if form.validate_on_submit():
        try:
            scope = service.add_api_scope(found, form.name.data, form.description.data, **actor())
        except RbacError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Scope “%(name)s” added.", name=scope.name), "success")
            return see_other(url_for("admin.api", api_id=found.id) + "#scopes")
    return _api_page(_api_or_404(api_id), 400, scope_form=form)


@bp.route("/apis/<int:api_id>/scopes/<int:scope_id>/remove", methods=["GET", "POST"])
def api_scope_remove(api_id: int, scope_id: int):
    found = _api_or_404(api_id)
    scope = db.session.get(CustomScope, scope_id)
    if scope is None or scope.resource_id != found.id:
        abort(404)
    text = gettext(
        "Remove the scope “%(scope)s” from %(api)s? Tokens for the API no longer carry it; apps that list it keep the name.",
        scope=scope.name,
        api=found.name,
    )
    done = gettext("Scope “%(name)s” removed.", name=scope.name)
    back = url_for("admin.api", api_id=found.id) + "#scopes"
    remove = partial(_removed, service.remove_api_scope, found, scope)
    return confirmed_removal(gettext("Remove scope"), text, back, remove, done)


@bp.post("/apis/<int:api_id>/clients")
def api_client_allow(api_id: int):
    found = _api_or_404(api_id)
    form = AllowClientForm(prefix="allow", clients=service.clients_not_allowed(found))
    if not form.validate_on_submit():
        return _api_page(found, 400, allow_form=form)
    client = find_client(form.client_id.data)
    if service.allow_client(found, client, **actor()):
        db.session.commit()
        flash(gettext("%(client)s may now ask for tokens for this API.", client=client.name), "success")
    return see_other(url_for("admin.api", api_id=found.id) + "#clients")


@bp.route("/apis/<int:api_id>/clients/<path:client_id>/remove", methods=["GET", "POST"])
def api_client_remove(api_id: int, client_id: str):
    found = _api_or_404(api_id)
    client = find_client(client_id)
    if client is None or not any(c.id == client.id for c in found.clients):
        abort(404)
    text = gettext(
        "Stop %(client)s asking for tokens for %(api)s? Tokens it already holds run out on their own.",
        client=client.name,
        api=found.name,
    )
    done = gettext("%(client)s may no longer ask for tokens for this API.", client=client.name)
    back = url_for("admin.api", api_id=found.id) + "#clients"
    return confirmed_removal(gettext("Remove client"), text, back, partial(service.disallow_client, found, client), done)


@bp.route("/apis/<int:api_id>/delete", methods=["GET", "POST"])
def api_delete(api_id: int):
    found = _api_or_404(api_id)
    text = gettext(
        "Delete the API “%(name)s” and its scopes? Apps can no longer ask for tokens for it; tokens already "
        "issued run out on their own.",
        name=found.name,
    )
    page = confirm(gettext("Delete API"), text, url_for("admin.api", api_id=found.id))
    if page is not None:
        return page
    service.delete_api(found, **actor())
    db.session.commit()
    flash(gettext("API “%(name)s” deleted.", name=found.name), "success")
    return see_other(url_for("admin.apis"))


def _removed(action, *args: object, **who: object) -> bool:
    """confirmed_removal commits only when told something changed; these domain calls always change something."""
    action(*args, **who)
    return True
