"""Operator command: ``flask audit export --since YYYY-MM-DD [--until YYYY-MM-DD] [--format csv|json]``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.admin.audit_log import AuditFilter, export_rows, to_csv, to_json

audit_cli = AppGroup("audit", help="Read the audit log.")


@audit_cli.command("export")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="First UTC day, inclusive.")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last UTC day, inclusive (default: today).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--event-type", help="Only events of this type, e.g. auth.login_failed.")
def export_command(since, until, fmt: str, event_type: str | None) -> None:
    """Write the events since a day to standard output, newest first (the console's export, scripted)."""
    if until is not None and until < since:
        raise click.BadParameter("must not be before --since", param_hint="--until")
    audit_filter = AuditFilter(event_type=event_type or None, date_from=since.date(), date_to=until.date() if until else None)
    rows = export_rows(audit_filter)
    for piece in to_csv(rows) if fmt == "csv" else to_json(rows):
        click.echo(piece, nl=False)
