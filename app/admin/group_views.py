"""Console pages for groups: create, edit, delete, members and the roles a group grants."""

from __future__ import annotations

from functools import partial

from flask import flash, render_template, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm

from app.admin import bp
from app.admin.confirmation import confirm
from app.admin.rbac_forms import GroupRoleForm, NamedForm, PersonForm
from app.admin.rbac_pages import actor, confirmed_removal, load, person_from, refused, roles_page
from app.core import rbac as service
from app.extensions import db
from app.models import User
from app.models.rbac import Group, Role
from app.web.views import see_other


@bp.post("/groups/new")
def group_create():
    form = NamedForm(prefix="group")
    if form.validate_on_submit():
        try:
            group = service.create_group(form.name.data, form.description.data, **actor())
        except service.RbacError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Group “%(name)s” created.", name=group.name), "success")
            return see_other(url_for("admin.group", group_id=group.id))
    return roles_page(400, group_form=form)


def _group_page(group: Group, status: int = 200, **forms: FlaskForm):
    forms.setdefault("form", NamedForm(obj=group))
    forms.setdefault("member_form", PersonForm())
    forms.setdefault("role_form", GroupRoleForm(roles=service.list_roles()))
    return render_template("admin/group.html", group=group, **forms), status


@bp.get("/groups/<int:group_id>")
def group(group_id: int):
    return _group_page(load(Group, group_id))


@bp.post("/groups/<int:group_id>/edit")
def group_edit(group_id: int):
    group = load(Group, group_id)
    form = NamedForm()
    if form.validate_on_submit():
        try:
            service.update_group(group, form.name.data, form.description.data, **actor())
        except service.RbacError as error:
            refused(form, error)
        else:
            db.session.commit()
            flash(gettext("Group saved."), "success")
            return see_other(url_for("admin.group", group_id=group.id))
    return _group_page(load(Group, group_id), 400, form=form)


@bp.route("/groups/<int:group_id>/delete", methods=["GET", "POST"])
def group_delete(group_id: int):
    group = load(Group, group_id)
    text = gettext("Delete the group “%(name)s”? Its members lose the roles they held through it.", name=group.name)
    page = confirm(gettext("Delete group"), text, url_for("admin.group", group_id=group.id))
    if page is not None:
        return page
    service.delete_group(group, **actor())
    db.session.commit()
    flash(gettext("Group “%(name)s” deleted.", name=group.name), "success")
    return see_other(url_for("admin.roles") + "#groups")


@bp.post("/groups/<int:group_id>/members")
def group_member_add(group_id: int):
    group = load(Group, group_id)
    form = PersonForm()
    user = person_from(form)
    if user is None:
        return _group_page(group, 400, member_form=form)
    if service.add_member(group, user, **actor()):
        db.session.commit()
        flash(gettext("%(email)s joined “%(group)s”.", email=user.email, group=group.name), "success")
    return see_other(url_for("admin.group", group_id=group.id))


@bp.route("/groups/<int:group_id>/members/<int:user_id>/remove", methods=["GET", "POST"])
def group_member_remove(group_id: int, user_id: int):
    group, user = load(Group, group_id), load(User, user_id)
    text = gettext(
        "Remove %(email)s from the group “%(group)s”? They lose the roles they hold only through it.",
        email=user.email,
        group=group.name,
    )
    done = gettext("%(email)s left “%(group)s”.", email=user.email, group=group.name)
    back, remove = url_for("admin.group", group_id=group.id), partial(service.remove_member, group, user)
    return confirmed_removal(gettext("Remove from group"), text, back, remove, done)


@bp.post("/groups/<int:group_id>/roles")
def group_role_add(group_id: int):
    group = load(Group, group_id)
    form = GroupRoleForm(roles=service.list_roles())
    if not form.validate_on_submit():
        return _group_page(group, 400, role_form=form)
    role = load(Role, form.role_id.data)
    if service.add_group_role(group, role, **actor()):
        db.session.commit()
        flash(gettext("Members of “%(group)s” now have the role “%(role)s”.", group=group.name, role=role.name), "success")
    return see_other(url_for("admin.group", group_id=group.id))


@bp.route("/groups/<int:group_id>/roles/<int:role_id>/remove", methods=["GET", "POST"])
def group_role_remove(group_id: int, role_id: int):
    group, role = load(Group, group_id), load(Role, role_id)
    text = gettext(
        "Stop granting the role “%(role)s” to the members of “%(group)s”? Members who hold it only through this group lose it.",
        role=role.name,
        group=group.name,
    )
    done = gettext("“%(group)s” no longer grants the role “%(role)s”.", group=group.name, role=role.name)
    back, remove = url_for("admin.group", group_id=group.id), partial(service.remove_group_role, group, role)
    return confirmed_removal(gettext("Remove role from group"), text, back, remove, done)
