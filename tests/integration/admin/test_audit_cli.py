"""``flask audit export``: the console's export, scripted by an operator."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from app.admin.audit_cli import audit_cli
from app.extensions import db
from app.models.base import utcnow
from tests.integration.admin.test_dashboard import add_event


def run(app, *args: str):
    return app.test_cli_runner().invoke(audit_cli, ["export", *args])


@pytest.fixture
def log(app, create_user):
    ada = create_user(email="ada@example.com")
    now = utcnow()
    add_event("test.today", subject_user_id=ada.id, ip_address="=cmd", at=now)
    add_event("test.lastweek", details={"client_id": "app-one"}, at=now - timedelta(days=7))
    add_event("test.lastmonth", at=now - timedelta(days=31))
    db.session.commit()
    return now


def days_ago(now, days: int) -> str:
    return (now - timedelta(days=days)).date().isoformat()


def test_csv_since_a_day_lists_that_day_onwards_newest_first(app, log):
    result = run(app, "--since", days_ago(log, 7))

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [row["event_type"] for row in rows] == ["test.today", "test.lastweek"]
    assert rows[0]["subject"] == "ada@example.com"
    assert rows[0]["ip_address"] == "'=cmd"  # defused for spreadsheets, as in the console
    assert rows[1]["client_id"] == "app-one"


def test_json_format(app, log):
    result = run(app, "--since", days_ago(log, 40), "--format", "json")

    assert result.exit_code == 0, result.output
    events = json.loads(result.output)["events"]
    assert [e["event_type"] for e in events] == ["test.today", "test.lastweek", "test.lastmonth"]
    assert events[0]["ip_address"] == "=cmd"


def test_until_and_event_type_narrow_the_window(app, log):
    result = run(app, "--since", days_ago(log, 40), "--until", days_ago(log, 7), "--format", "json")
    typed = run(app, "--since", days_ago(log, 40), "--event-type", "test.lastmonth", "--format", "json")

    assert [e["event_type"] for e in json.loads(result.output)["events"]] == ["test.lastweek", "test.lastmonth"]
    assert [e["event_type"] for e in json.loads(typed.output)["events"]] == ["test.lastmonth"]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--since", "yesterday"],
        ["--since", "2026-02-30"],
        ["--since", "2026-01-01", "--format", "xml"],
        ["--since", "2026-01-02", "--until", "2026-01-01"],
    ],
)
def test_bad_arguments_exit_with_a_usage_error_and_print_no_events(app, log, args):
    result = run(app, *args)

    assert result.exit_code == 2
    assert "test.today" not in result.output


def test_the_command_is_registered_with_flask(app):
    result = app.test_cli_runner().invoke(args=["audit", "export", "--help"])

    assert result.exit_code == 0 and "--since" in result.output
