"""Roles, groups and custom scopes: who holds what, and the operator's changes to it.

A person's effective roles are their own plus those of their groups. The built-in "admin" role
is the `User.is_admin` flag, not a Role row: it opens the console, so the last admin keeps it.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.core.audit import Origin, record_event
from app.core.scopes import SCOPE_DESCRIPTIONS, scope_token_pattern
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User
from app.models.rbac import CustomScope, Group, Role, group_members, group_roles, user_roles

ADMIN_ROLE = "admin"
NAME_MAX = 64
DESCRIPTION_MAX = 200
# Role and group names travel in the roles/groups claims: a small, case-stable alphabet RPs can match on.
_NAME = re.compile(r"^[a-z0-9_.:-]{1,64}$")
_SCOPE_TOKEN = scope_token_pattern(NAME_MAX)

NAME_INVALID = lazy_gettext("Use 1 to 64 lowercase letters, digits, or - _ . : only.")
SCOPE_INVALID = lazy_gettext('Use 1 to 64 visible characters without spaces, quotes (") or backslashes.')
DESCRIPTION_TOO_LONG = lazy_gettext("Keep the description under %(max)d characters.", max=DESCRIPTION_MAX)


class RbacError(ValueError):
    """A refused change; `field` names the form field the message belongs to.

    The message is a lazy translation, read for the console page in the operator's language (``str(error)``).
    """

    def __init__(self, message: object, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


# --- who holds what ---


def effective_role_names(user: User) -> list[str]:
    """Sorted names of the person's roles, direct or through a group; "admin" for administrators."""
    direct = select(Role.name).join(user_roles, user_roles.c.role_id == Role.id).where(user_roles.c.user_id == user.id)
    inherited = (
        select(Role.name)
        .join(group_roles, group_roles.c.role_id == Role.id)
        .join(group_members, group_members.c.group_id == group_roles.c.group_id)
        .where(group_members.c.user_id == user.id)
    )
    names = set(db.session.scalars(direct.union(inherited)))
    if user.is_admin:
        names.add(ADMIN_ROLE)
    return sorted(names)


def group_names(user: User) -> list[str]:
    query = select(Group.name).join(group_members, group_members.c.group_id == Group.id)
    return sorted(db.session.scalars(query.where(group_members.c.user_id == user.id)))


def direct_roles(user: User) -> list[Role]:
    query = select(Role).join(user_roles, user_roles.c.role_id == Role.id).where(user_roles.c.user_id == user.id)
    return list(db.session.scalars(query.order_by(Role.name)))


def user_groups(user: User) -> list[Group]:
    query = select(Group).join(group_members, group_members.c.group_id == Group.id)
    return list(db.session.scalars(query.where(group_members.c.user_id == user.id).order_by(Group.name)))


def list_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.name)))


def list_groups() -> list[Group]:
    return list(db.session.scalars(select(Group).order_by(Group.name)))


def list_scopes() -> list[CustomScope]:
    return list(db.session.scalars(select(CustomScope).order_by(CustomScope.name)))


def list_admins() -> list[User]:
    return list(db.session.scalars(select(User).where(User.is_admin.is_(True)).order_by(User.email)))


def find_role_by_name(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


# --- checks shared by every write ---


def _checked_name(name: str, pattern: re.Pattern[str] = _NAME, message: str = NAME_INVALID) -> str:
    name = (name or "").strip()
    if not pattern.fullmatch(name):
        raise RbacError(message)
    return name


def _checked_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise RbacError(DESCRIPTION_TOO_LONG, "description")
    return description


def _ensure_unique(model: type[Role] | type[Group] | type[CustomScope], name: str, exclude_id: int | None = None) -> None:
    query = select(model.id).where(model.name == name)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise RbacError(lazy_gettext("“%(name)s” is already taken.", name=name))


def _checked_role_name(name: str, exclude_id: int | None = None) -> str:
    name = _checked_name(name)
    if name == ADMIN_ROLE:
        raise RbacError(lazy_gettext("“admin” is the built-in administrator role; choose another name."))
    _ensure_unique(Role, name, exclude_id)
    return name


# --- roles ---


def create_role(name: str, description: str, *, actor: User | None, origin: Origin) -> Role:
    role = Role(name=_checked_role_name(name), description=_checked_description(description))
    db.session.add(role)
    db.session.flush()
    record_event("admin.role_created", origin=origin, actor=actor, role=role.name)
    return role


def update_role(role: Role, name: str, description: str, *, actor: User, origin: Origin) -> None:
    new_name, new_description = _checked_role_name(name, exclude_id=role.id), _checked_description(description)
    record_event("admin.role_updated", origin=origin, actor=actor, role=new_name, previous_name=role.name)
    role.name, role.description = new_name, new_description
    db.session.flush()


def delete_role(role: Role, *, actor: User | None, origin: Origin) -> None:
    record_event("admin.role_deleted", origin=origin, actor=actor, role=role.name)
    db.session.delete(role)
    db.session.flush()


def roles_not_held(user: User) -> list[Role]:
    """Roles the person doesn't hold directly (one held only through a group may still be given)."""
    held = select(user_roles.c.role_id).where(user_roles.c.user_id == user.id)
    return list(db.session.scalars(select(Role).where(Role.id.not_in(held)).order_by(Role.name)))


def assign_role(role: Role, user: User, *, actor: User | None, origin: Origin) -> bool:
    """Give the person the role directly; False when they already had it."""
    if user in role.users:
        return False
    role.users.append(user)
    record_event("admin.role_assigned", origin=origin, actor=actor, subject=user, role=role.name)
    db.session.flush()
    return True


def unassign_role(role: Role, user: User, *, actor: User | None, origin: Origin) -> bool:
    """Take a directly held role away (roles through groups stay); False when they did not hold it."""
    if user not in role.users:
        return False
    role.users.remove(user)
    record_event("admin.role_unassigned", origin=origin, actor=actor, subject=user, role=role.name)
    db.session.flush()
    return True


# --- the built-in admin role ---


def grant_admin(user: User, *, actor: User | None, origin: Origin) -> bool:
    if user.is_admin:
        return False
    user.is_admin = True
    record_event("admin.admin_granted", origin=origin, actor=actor, subject=user)
    db.session.flush()
    return True


def revoke_admin(user: User, *, actor: User | None, origin: Origin) -> bool:
    """Refuses to leave the console without an administrator who can still sign in."""
    if not user.is_admin:
        return False
    others = select(func.count()).where(User.is_admin.is_(True), User.is_disabled.is_(False), User.id != user.id)
    if not db.session.scalar(others):
        raise RbacError(lazy_gettext("This is the last administrator: make someone else an administrator first."), "email")
    user.is_admin = False
    record_event("admin.admin_revoked", origin=origin, actor=actor, subject=user)
    db.session.flush()
    return True


# --- groups ---


def create_group(name: str, description: str, *, actor: User | None, origin: Origin) -> Group:
    name = _checked_name(name)
    _ensure_unique(Group, name)
    group = Group(name=name, description=_checked_description(description))
    db.session.add(group)
    db.session.flush()
    record_event("admin.group_created", origin=origin, actor=actor, group=group.name)
    return group


def update_group(group: Group, name: str, description: str, *, actor: User, origin: Origin) -> None:
    new_name = _checked_name(name)
    _ensure_unique(Group, new_name, exclude_id=group.id)
    new_description = _checked_description(description)
    record_event("admin.group_updated", origin=origin, actor=actor, group=new_name, previous_name=group.name)
    group.name, group.description = new_name, new_description
    db.session.flush()


def delete_group(group: Group, *, actor: User | None, origin: Origin) -> None:
    record_event("admin.group_deleted", origin=origin, actor=actor, group=group.name)
    db.session.delete(group)
    db.session.flush()


def add_member(group: Group, user: User, *, actor: User | None, origin: Origin) -> bool:
    if user in group.members:
        return False
    group.members.append(user)
    record_event("admin.group_member_added", origin=origin, actor=actor, subject=user, group=group.name)
    db.session.flush()
    return True


def remove_member(group: Group, user: User, *, actor: User | None, origin: Origin) -> bool:
    if user not in group.members:
        return False
    group.members.remove(user)
    record_event("admin.group_member_removed", origin=origin, actor=actor, subject=user, group=group.name)
    db.session.flush()
    return True


def add_group_role(group: Group, role: Role, *, actor: User | None, origin: Origin) -> bool:
    if role in group.roles:
        return False
    group.roles.append(role)
    record_event("admin.group_role_added", origin=origin, actor=actor, group=group.name, role=role.name)
    db.session.flush()
    return True


def remove_group_role(group: Group, role: Role, *, actor: User | None, origin: Origin) -> bool:
    if role not in group.roles:
        return False
    group.roles.remove(role)
    record_event("admin.group_role_removed", origin=origin, actor=actor, group=group.name, role=role.name)
    db.session.flush()
    return True


# --- custom scopes ---


def create_scope(name: str, description: str, *, actor: User | None, origin: Origin) -> CustomScope:
    """A scope for the operator's APIs; the description is what consent pages show for it."""
    name = _checked_name(name, _SCOPE_TOKEN, SCOPE_INVALID)
    if name in SCOPE_DESCRIPTIONS:
        raise RbacError(lazy_gettext("“%(name)s” is a built-in scope.", name=name))
    _ensure_unique(CustomScope, name)
    description = _checked_description(description)
    if not description:
        raise RbacError(
            lazy_gettext("Describe what the scope lets an app do; people read it on the consent page."), "description"
        )
    scope = CustomScope(name=name, description=description)
    db.session.add(scope)
    db.session.flush()
    record_event("admin.scope_created", origin=origin, actor=actor, scope=scope.name)
    return scope


def delete_scope(scope: CustomScope, *, actor: User | None, origin: Origin) -> None:
    """Clients keep the name in their lists; consent pages fall back to the generic wording."""
    record_event("admin.scope_deleted", origin=origin, actor=actor, scope=scope.name)
    db.session.delete(scope)
    db.session.flush()
