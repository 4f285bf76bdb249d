"""Console pages for roles, the built-in admin role and custom scopes (groups: group_views)."""

from __future__ import annotations

from flask import flash, render_template, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm

from app.admin import bp
from app.admin.confirmation import confirm
from app.admin.rbac_forms import NamedForm, PersonForm
from app.admin.rbac_pages import actor, load, person_from, refused, roles_page, unassign_confirmed
from app.core import rbac as service
from app.extensions import db
from app.models import User
from app.models.rbac import CustomScope, Role
from app.web.views import see_other

# --- the overview ---


@bp.get("/roles")
def roles():
    return roles_page()


@bp.post("/roles/new")
def role_create():
    form = NamedForm(prefix="role")
    if form.validate_on_submit():
        try:
            role = service.create_role(form.name.data, form.description.data, **actor())
        except service.RbacError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Role “%(name)s” created.", name=role.name), "success")
            return see_other(url_for("admin.role", role_id=role.id))
    return roles_page(400, role_form=form)


@bp.post("/scopes/new")
def scope_create():
    form = NamedForm(prefix="scope")
    if form.validate_on_submit():
        try:
            scope = service.create_scope(form.name.data, form.description.data, **actor())
        except service.RbacError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Scope “%(name)s” created; add it to a client's scopes to use it.", name=scope.name), "success")
            return see_other(url_for("admin.roles") + "#scopes")
    return roles_page(400, scope_form=form)


@bp.route("/scopes/<int:scope_id>/delete", methods=["GET", "POST"])
def scope_delete(scope_id: int):
    scope = load(CustomScope, scope_id)
    text = gettext(
        "Delete the scope “%(name)s”? Clients keep it in their lists, but consent pages lose its description.",
        name=scope.name,
    )
    page = confirm(gettext("Delete scope"), text, url_for("admin.roles") + "#scopes")
    if page is not None:
        return page
    service.delete_scope(scope, **actor())
    db.session.commit()
    flash(gettext("Scope “%(name)s” deleted.", name=scope.name), "success")
    return see_other(url_for("admin.roles") + "#scopes")


# --- the built-in admin role ---


@bp.post("/admins")
def admin_grant():
    form = PersonForm(prefix="admin")
    user = person_from(form)
    if user is None:
        return roles_page(400, admin_form=form)
    if service.grant_admin(user, **actor()):
        db.session.commit()
        flash(
            gettext("%(email)s is now an administrator. They need a second factor to open the console.", email=user.email),
            "success",
        )
    return see_other(url_for("admin.roles") + "#admins")


@bp.route("/admins/<int:user_id>/revoke", methods=["GET", "POST"])
def admin_revoke(user_id: int):
    user = load(User, user_id)
    page = confirm(
        gettext("Remove administrator"),
        gettext("Remove the admin role from %(email)s?", email=user.email),
        url_for("admin.roles"),
    )
    if page is not None:
        return page
    try:
        service.revoke_admin(user, **actor())
    except service.RbacError as error:
        db.session.rollback()
        form = PersonForm(prefix="admin", formdata=None)
        form.email.errors = [str(error)]
        return roles_page(400, admin_form=form)
    db.session.commit()
    flash(gettext("%(email)s is no longer an administrator.", email=user.email), "success")
    return see_other(url_for("admin.roles") + "#admins")


# --- one role ---


def _role_page(role: Role, status: int = 200, **forms: FlaskForm):
    forms.setdefault("form", NamedForm(obj=role))
    forms.setdefault("person_form", PersonForm())
    return render_template("admin/role.html", role=role, **forms), status


@bp.get("/roles/<int:role_id>")
def role(role_id: int):
    return _role_page(load(Role, role_id))


@bp.post("/roles/<int:role_id>/edit")
def role_edit(role_id: int):
    role = load(Role, role_id)
    form = NamedForm()
    if form.validate_on_submit():
        try:
            service.update_role(role, form.name.data, form.description.data, **actor())
        except service.RbacError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Role saved."), "success")
            return see_other(url_for("admin.role", role_id=role.id))
    return _role_page(load(Role, role_id), 400, form=form)


@bp.route("/roles/<int:role_id>/delete", methods=["GET", "POST"])
def role_delete(role_id: int):
    role = load(Role, role_id)
    text = gettext("Delete the role “%(name)s”? Everyone holding it, directly or through a group, loses it.", name=role.name)
    page = confirm(gettext("Delete role"), text, url_for("admin.role", role_id=role.id))
    if page is not None:
        return page
    service.delete_role(role, **actor())
    db.session.commit()
    flash(gettext("Role “%(name)s” deleted.", name=role.name), "success")
    return see_other(url_for("admin.roles"))


@bp.post("/roles/<int:role_id>/users")
def role_assign(role_id: int):
    role = load(Role, role_id)
    form = PersonForm()
    user = person_from(form)
    if user is None:
        return _role_page(role, 400, person_form=form)
    if service.assign_role(role, user, **actor()):
        db.session.commit()
        flash(gettext("%(email)s now has the role “%(role)s”.", email=user.email, role=role.name), "success")
    return see_other(url_for("admin.role", role_id=role.id))


@bp.route("/roles/<int:role_id>/users/<int:user_id>/remove", methods=["GET", "POST"])
def role_unassign(role_id: int, user_id: int):
    role, user = load(Role, role_id), load(User, user_id)
    return unassign_confirmed(role, user, url_for("admin.role", role_id=role.id))


# --- one group ---
