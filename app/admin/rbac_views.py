"""Console pages for roles, groups, the built-in admin role and custom scopes."""

from __future__ import annotations

from typing import TypeVar

from flask import abort, flash, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from app.admin import bp
from app.core import rbac as service
from app.admin.rbac_forms import GroupRoleForm, NamedForm, PersonForm
from app.web.forms import ConfirmForm
from app.core.accounts import find_user_by_email
from app.extensions import db
from app.models import User
from app.models.rbac import CustomScope, Group, Role
from app.web.views import request_origin, see_other

NO_SUCH_PERSON = "No account uses that email address."
Model = TypeVar("Model", Role, Group, CustomScope, User)


def _load(model: type[Model], ident: int) -> Model:
    found = db.session.get(model, ident)
    if found is None:
        abort(404)
    return found


def _actor() -> dict:
    return {"actor": current_user.user, "origin": request_origin()}


def _refused(form: FlaskForm, error: service.RbacError) -> None:
    """Show the refusal next to its field, and undo anything the service had flushed."""
    db.session.rollback()
    getattr(form, error.field).errors = [*getattr(form, error.field).errors, str(error)]


def _person(form: PersonForm) -> User | None:
    if not form.validate_on_submit():
        return None
    user = find_user_by_email(form.email.data)
    if user is None:
        form.email.errors = [NO_SUCH_PERSON]
    return user


def _confirm(title: str, text: str, cancel: str):
    if not ConfirmForm().validate_on_submit():
        return render_template("admin/rbac_confirm.html", form=ConfirmForm(), title=title, text=text, cancel=cancel)
    return None


# --- the overview ---


def _roles_page(status: int = 200, **forms: FlaskForm):
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


@bp.get("/roles")
def roles():
    return _roles_page()


@bp.post("/roles/new")
def role_create():
    form = NamedForm(prefix="role")
    if form.validate_on_submit():
        try:
            role = service.create_role(form.name.data, form.description.data, **_actor())
        except service.RbacError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(f"Role “{role.name}” created.", "success")
            return see_other(url_for("admin.role", role_id=role.id))
    return _roles_page(400, role_form=form)


@bp.post("/groups/new")
def group_create():
    form = NamedForm(prefix="group")
    if form.validate_on_submit():
        try:
            group = service.create_group(form.name.data, form.description.data, **_actor())
        except service.RbacError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(f"Group “{group.name}” created.", "success")
            return see_other(url_for("admin.group", group_id=group.id))
    return _roles_page(400, group_form=form)


@bp.post("/scopes/new")
def scope_create():
    form = NamedForm(prefix="scope")
    if form.validate_on_submit():
        try:
            scope = service.create_scope(form.name.data, form.description.data, **_actor())
        except service.RbacError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(f"Scope “{scope.name}” created; add it to a client's scopes to use it.", "success")
            return see_other(url_for("admin.roles") + "#scopes")
    return _roles_page(400, scope_form=form)


@bp.route("/scopes/<int:scope_id>/delete", methods=["GET", "POST"])
def scope_delete(scope_id: int):
    scope = _load(CustomScope, scope_id)
    text = f"Delete the scope “{scope.name}”? Clients keep it in their lists, but consent pages lose its description."
    page = _confirm("Delete scope", text, url_for("admin.roles") + "#scopes")
    if page is not None:
        return page
    service.delete_scope(scope, **_actor())
    db.session.commit()
    flash(f"Scope “{scope.name}” deleted.", "success")
    return see_other(url_for("admin.roles") + "#scopes")


# --- the built-in admin role ---


@bp.post("/admins")
def admin_grant():
    form = PersonForm(prefix="admin")
    user = _person(form)
    if user is None:
        return _roles_page(400, admin_form=form)
    if service.grant_admin(user, **_actor()):
        db.session.commit()
        flash(f"{user.email} is now an administrator. They need a second factor to open the console.", "success")
    return see_other(url_for("admin.roles") + "#admins")


@bp.route("/admins/<int:user_id>/revoke", methods=["GET", "POST"])
def admin_revoke(user_id: int):
    user = _load(User, user_id)
    page = _confirm("Remove administrator", f"Remove the admin role from {user.email}?", url_for("admin.roles"))
    if page is not None:
        return page
    try:
        service.revoke_admin(user, **_actor())
    except service.RbacError as error:
        db.session.rollback()
        form = PersonForm(prefix="admin", formdata=None)
        form.email.errors = [str(error)]
        return _roles_page(400, admin_form=form)
    db.session.commit()
    flash(f"{user.email} is no longer an administrator.", "success")
    return see_other(url_for("admin.roles") + "#admins")


# --- one role ---


def _role_page(role: Role, status: int = 200, **forms: FlaskForm):
    forms.setdefault("form", NamedForm(obj=role))
    forms.setdefault("person_form", PersonForm())
    return render_template("admin/role.html", role=role, **forms), status


@bp.get("/roles/<int:role_id>")
def role(role_id: int):
    return _role_page(_load(Role, role_id))


@bp.post("/roles/<int:role_id>/edit")
def role_edit(role_id: int):
    role = _load(Role, role_id)
    form = NamedForm()
    if form.validate_on_submit():
        try:
            service.update_role(role, form.name.data, form.description.data, **_actor())
        except service.RbacError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash("Role saved.", "success")
            return see_other(url_for("admin.role", role_id=role.id))
    return _role_page(_load(Role, role_id), 400, form=form)


@bp.route("/roles/<int:role_id>/delete", methods=["GET", "POST"])
def role_delete(role_id: int):
    role = _load(Role, role_id)
    text = f"Delete the role “{role.name}”? Everyone holding it, directly or through a group, loses it."
    page = _confirm("Delete role", text, url_for("admin.role", role_id=role.id))
    if page is not None:
        return page
    service.delete_role(role, **_actor())
    db.session.commit()
    flash(f"Role “{role.name}” deleted.", "success")
    return see_other(url_for("admin.roles"))


@bp.post("/roles/<int:role_id>/users")
def role_assign(role_id: int):
    role = _load(Role, role_id)
    form = PersonForm()
    user = _person(form)
    if user is None:
        return _role_page(role, 400, person_form=form)
    if service.assign_role(role, user, **_actor()):
        db.session.commit()
        flash(f"{user.email} now has the role “{role.name}”.", "success")
    return see_other(url_for("admin.role", role_id=role.id))


@bp.post("/roles/<int:role_id>/users/<int:user_id>/remove")
def role_unassign(role_id: int, user_id: int):
    role, user = _load(Role, role_id), _load(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if service.unassign_role(role, user, **_actor()):
        db.session.commit()
        flash(f"{user.email} no longer has the role “{role.name}” directly.", "success")
    return see_other(url_for("admin.role", role_id=role.id))


# --- one group ---


def _group_page(group: Group, status: int = 200, **forms: FlaskForm):
    forms.setdefault("form", NamedForm(obj=group))
    forms.setdefault("member_form", PersonForm())
    forms.setdefault("role_form", GroupRoleForm(roles=service.list_roles()))
    return render_template("admin/group.html", group=group, **forms), status


@bp.get("/groups/<int:group_id>")
def group(group_id: int):
    return _group_page(_load(Group, group_id))


@bp.post("/groups/<int:group_id>/edit")
def group_edit(group_id: int):
    group = _load(Group, group_id)
    form = NamedForm()
    if form.validate_on_submit():
        try:
            service.update_group(group, form.name.data, form.description.data, **_actor())
        except service.RbacError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash("Group saved.", "success")
            return see_other(url_for("admin.group", group_id=group.id))
    return _group_page(_load(Group, group_id), 400, form=form)


@bp.route("/groups/<int:group_id>/delete", methods=["GET", "POST"])
def group_delete(group_id: int):
    group = _load(Group, group_id)
    text = f"Delete the group “{group.name}”? Its members lose the roles they held through it."
    page = _confirm("Delete group", text, url_for("admin.group", group_id=group.id))
    if page is not None:
        return page
    service.delete_group(group, **_actor())
    db.session.commit()
    flash(f"Group “{group.name}” deleted.", "success")
    return see_other(url_for("admin.roles") + "#groups")


@bp.post("/groups/<int:group_id>/members")
def group_member_add(group_id: int):
    group = _load(Group, group_id)
    form = PersonForm()
    user = _person(form)
    if user is None:
        return _group_page(group, 400, member_form=form)
    if service.add_member(group, user, **_actor()):
        db.session.commit()
        flash(f"{user.email} joined “{group.name}”.", "success")
    return see_other(url_for("admin.group", group_id=group.id))


@bp.post("/groups/<int:group_id>/members/<int:user_id>/remove")
def group_member_remove(group_id: int, user_id: int):
    group, user = _load(Group, group_id), _load(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if service.remove_member(group, user, **_actor()):
        db.session.commit()
        flash(f"{user.email} left “{group.name}”.", "success")
    return see_other(url_for("admin.group", group_id=group.id))


@bp.post("/groups/<int:group_id>/roles")
def group_role_add(group_id: int):
    group = _load(Group, group_id)
    form = GroupRoleForm(roles=service.list_roles())
    if not form.validate_on_submit():
        return _group_page(group, 400, role_form=form)
    role = _load(Role, form.role_id.data)
    if service.add_group_role(group, role, **_actor()):
        db.session.commit()
        flash(f"Members of “{group.name}” now have the role “{role.name}”.", "success")
    return see_other(url_for("admin.group", group_id=group.id))


@bp.post("/groups/<int:group_id>/roles/<int:role_id>/remove")
def group_role_remove(group_id: int, role_id: int):
    group, role = _load(Group, group_id), _load(Role, role_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if service.remove_group_role(group, role, **_actor()):
        db.session.commit()
        flash(f"“{group.name}” no longer grants the role “{role.name}”.", "success")
    return see_other(url_for("admin.group", group_id=group.id))
