"""What the role, group and scope pages share: loading, refusals, confirmations, the overview."""

from __future__ import annotations

from typing import TypeVar

from flask import abort, render_template, request
from flask_login import current_user
from flask_wtf import FlaskForm

from app.admin.confirmation import ConfirmActionForm
from app.admin.rbac_forms import NamedForm, PersonForm
from app.core import rbac as service
from app.core.accounts import find_user_by_email
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User
from app.models.rbac import CustomScope, Group, Role
from app.web.views import request_origin

NO_SUCH_PERSON = lazy_gettext("No account uses that email address.")


Model = TypeVar("Model", Role, Group, CustomScope, User)


def load(model: type[Model], ident: int) -> Model:
    found = db.session.get(model, ident)
    if found is None:
        abort(404)
    return found


def actor() -> dict:
    return {"actor": current_user.user, "origin": request_origin()}


def refused(form: FlaskForm, error: service.RbacError) -> None:
    """Show the refusal next to its field, and undo anything the service had flushed."""
    db.session.rollback()
    getattr(form, error.field).errors = [*getattr(form, error.field).errors, str(error)]


def person_from(form: PersonForm) -> User | None:
    if not form.validate_on_submit():
        return None
    user = find_user_by_email(form.email.data)
    if user is None:
        form.email.errors = [str(NO_SUCH_PERSON)]
    return user


def confirm(title: str, text: str, cancel: str):
    """The confirm page, or None once its button was pressed; a POST that skipped the page gets it back with a 400."""
    if not ConfirmActionForm().validate_on_submit():
        page = render_template("admin/rbac_confirm.html", form=ConfirmActionForm(), title=title, text=text, cancel=cancel)
        return page, 400 if request.method == "POST" else 200
    return None


def roles_page(status: int = 200, **forms: FlaskForm):
    forms.setdefault("role_form", NamedForm(prefix="role"))
    forms.setdefault("group_form", NamedForm(prefix="group"))
    forms.setdefault("scope_form", NamedForm(prefix="scope"))
    forms.setdefault("admin_form", PersonForm(prefix="admin"))
    page = render_template(
        "admin/roles.html",
        roles=service.list_roles(),
        groups=service.list_groups(),
        scopes=service.list_scopes(),
        admins=service.list_admins(),
        **forms,
    )
    return page, status
