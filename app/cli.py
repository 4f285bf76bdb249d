"""Every operator command, attached to ``flask``: users, demo, roles, apis, audit, clients, keys, maintenance, prepare."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, select

from app.admin.apis_cli import apis_cli
from app.admin.audit_cli import audit_cli
from app.admin.roles_cli import roles_cli
from app.admin.users_cli import seed_demo, users_cli
from app.config import PROJECT_ROOT
from app.core.logout_delivery import deliver_due
from app.core.maintenance import AUDIT_KINDS, DEFAULT_BATCH_SIZE, prune_expired
from app.core.schema import prepare
from app.extensions import db
from app.models import PendingLogout
from app.oauth.cli import clients_cli, keys_cli

MIGRATIONS = str(PROJECT_ROOT / "migrations")

maintenance_cli = AppGroup("maintenance", help="Housekeeping to run on a schedule.")


@maintenance_cli.command("prune")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
def prune(batch_size: int, dry_run: bool):
    """Delete expired rows (tokens, codes, sessions, ...), each batch its own short transaction; safe while serving."""
    try:
        counts = prune_expired(current_app.config, batch_size=batch_size, dry_run=dry_run)
    except ValueError as error:  # IDP_AUDIT_RETENTION_DAYS below one day
        raise click.UsageError(str(error)) from None
    for kind, count in counts.items():
        click.echo(f"{kind}: {count}")
    if not any(kind in counts for kind in AUDIT_KINDS):
        click.echo("audit_events: kept (IDP_AUDIT_RETENTION_DAYS is not set)")
    click.echo(f"total: {sum(counts.values())}" + (" (dry run: nothing deleted)" if dry_run else ""))


@maintenance_cli.command("deliver-logouts")
def deliver_logouts():
    """Send the back-channel logout tokens that are due now (the server's own thread does this while it runs)."""
    delivered = deliver_due()
    waiting = db.session.scalar(select(func.count()).select_from(PendingLogout))
    click.echo(f"delivered: {delivered}")
    click.echo(f"waiting for a retry: {waiting}")


@click.command("prepare")
@with_appcontext
def prepare_command():
    """Migrate the database, then create missing signing keys; replicas starting together take turns."""
    for line in prepare(lambda: upgrade(directory=MIGRATIONS)).describe():
        click.echo(line)


def init_cli(app: Flask) -> None:
    for command in (
        users_cli,
        roles_cli,
        apis_cli,
        audit_cli,
        clients_cli,
        keys_cli,
        maintenance_cli,
        prepare_command,
        seed_demo,
    ):
        app.cli.add_command(command)
