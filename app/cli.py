"""Every operator command, attached to ``flask``: users, demo, roles, audit, clients, keys."""

from __future__ import annotations

from flask import Flask

from app.admin.audit_cli import audit_cli
from app.admin.roles_cli import roles_cli
from app.admin.users_cli import seed_demo, users_cli
from app.oauth.cli import clients_cli, keys_cli


def init_cli(app: Flask) -> None:
    for command in (users_cli, roles_cli, audit_cli, clients_cli, keys_cli, seed_demo):
        app.cli.add_command(command)
