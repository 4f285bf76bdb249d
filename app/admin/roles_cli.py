"""Operator commands for roles: ``flask roles list|create|delete|assign|unassign``."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.core import rbac
from app.core.accounts import find_user_by_email
from app.core.audit import CLI_ORIGIN
from app.extensions import db
from app.models import User
from app.models.rbac import Role

roles_cli = AppGroup("roles", help="Manage roles and who holds them.")


def _fail(text: str, status: int = 1) -> None:
    db.session.rollback()
    click.echo(text, err=True)
    sys.exit(status)


def _person(email: str) -> User:
    user = find_user_by_email(email)
    if user is None:
        _fail(f"No account uses {email}.")
    return user


def _role(name: str) -> Role:
    role = rbac.find_role_by_name(name)
    if role is None:
        _fail(f"No role is named {name}.")
    return role


@roles_cli.command("list")
def list_roles() -> None:
    """Every role with how many people hold it directly; the built-in admin role first."""
    click.echo(f"{rbac.ADMIN_ROLE}\t{len(rbac.list_admins())}\tbuilt-in: opens the admin console")
    for role in rbac.list_roles():
        click.echo(f"{role.name}\t{len(role.users)}\t{role.description}")


@roles_cli.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the role is for.")
def create_role(name: str, description: str) -> None:
    """Create a role."""
    try:
        role = rbac.create_role(name, description, actor=None, origin=CLI_ORIGIN)
    except rbac.RbacError as error:
        _fail(f"Refused: {error}", 2)
    db.session.commit()
    click.echo(f"Created role {role.name}.")


@roles_cli.command("delete")
@click.argument("name")
def delete_role(name: str) -> None:
    """Delete a role; everyone holding it, directly or through a group, loses it."""
    rbac.delete_role(_role(name), actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    click.echo(f"Deleted role {name}.")


@roles_cli.command("assign")
@click.argument("email")
@click.argument("role_name", metavar="ROLE")
def assign_role(email: str, role_name: str) -> None:
    """Give a person a role ("admin" makes them an administrator)."""
    user = _person(email)
    if role_name == rbac.ADMIN_ROLE:
        changed = rbac.grant_admin(user, actor=None, origin=CLI_ORIGIN)
    else:
        changed = rbac.assign_role(_role(role_name), user, actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    click.echo(f"{user.email} {'now has' if changed else 'already had'} the role {role_name}.")


@roles_cli.command("unassign")
@click.argument("email")
@click.argument("role_name", metavar="ROLE")
def unassign_role(email: str, role_name: str) -> None:
    """Take a directly held role away (the last administrator keeps "admin")."""
    user = _person(email)
    try:
        if role_name == rbac.ADMIN_ROLE:
            changed = rbac.revoke_admin(user, actor=None, origin=CLI_ORIGIN)
        else:
            changed = rbac.unassign_role(_role(role_name), user, actor=None, origin=CLI_ORIGIN)
    except rbac.RbacError as error:
        _fail(f"Refused: {error}", 2)
    db.session.commit()
    click.echo(f"{user.email} {'no longer has' if changed else 'did not hold'} the role {role_name} directly.")
