"""What the role, group and scope pages share: loading, refusals, taking a role from a person, the overview."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from flask import abort, flash, render_template
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from app.admin.confirmation import confirm
from app.admin.rbac_forms import NamedForm, PersonForm
from app.core import rbac as service
from app.core.accounts import find_user_by_email
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User
from app.models.rbac import CustomScope, Group, Role
from app.web.views import request_origin, see_other

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


def confirmed_removal(title: str, text: str, back: str, remove: Callable[..., bool], done: str):
    """The confirm page; once its button is pressed, the removal (the service audits it) and its flash, then back."""
    page = confirm(title, text, back)
    if page is not None:
        return page
    if remove(**actor()):
        db.session.commit()
        flash(done, "success")
    return see_other(back)


def unassign_confirmed(role: Role, user: User, back: str):
    """Take a role from a person, asking first (the role's page and the person's page both offer it)."""
    text = gettext(
        "Take the role “%(role)s” from %(email)s? They keep it only if one of their groups grants it.",
        role=role.name,
        email=user.email,
    )
    done = gettext("%(email)s no longer has the role “%(role)s” directly.", email=user.email, role=role.name)
    return confirmed_removal(gettext("Remove role"), text, back, partial(service.unassign_role, role, user), done)


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
