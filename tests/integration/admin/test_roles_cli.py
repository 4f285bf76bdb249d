"""``flask roles list|create|delete|assign|unassign``: the console's role operations, scripted and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.admin.roles_cli import roles_cli
from app.core import rbac
from app.extensions import db
from app.models import AuditEvent, User
from app.models.rbac import Role


def run(app, *args: str):
    return app.test_cli_runner().invoke(cli=roles_cli, args=list(args))


@pytest.fixture
def ada(create_user):
    return create_user(email="ada@example.com")


def role_names() -> list[str]:
    db.session.expire_all()
    return [role.name for role in rbac.list_roles()]


def cli_events() -> list[tuple[str, dict]]:
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    return [(row.event_type, row.details) for row in rows if row.user_agent == "flask-cli"]


def test_create_list_and_delete_a_role(app):
    created = run(app, "create", "support", "--description", "Help desk")
    assert created.exit_code == 0 and "Created role support." in created.output

    listed = run(app, "list")
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].startswith("admin\t0\t")
    assert "support\t0\tHelp desk" in listed.output

    deleted = run(app, "delete", "support")
    assert deleted.exit_code == 0 and role_names() == []
    assert cli_events() == [("admin.role_created", {"role": "support"}), ("admin.role_deleted", {"role": "support"})]


@pytest.mark.parametrize("name", ["admin", "Support", "with space", "x" * 65])
def test_create_refuses_a_reserved_or_malformed_name(app, name):
    result = run(app, "create", name)

    assert result.exit_code == 2 and "Refused" in result.output and role_names() == []


def test_create_refuses_a_duplicate(app):
    run(app, "create", "support")

    result = run(app, "create", "support")

    assert result.exit_code == 2 and "already taken" in result.output and role_names() == ["support"]


def test_assign_and_unassign_a_role_by_email(app, ada):
    run(app, "create", "support")

    assigned = run(app, "assign", "ADA@example.com", "support")
    assert assigned.exit_code == 0 and "now has" in assigned.output
    assert rbac.effective_role_names(ada) == ["support"]
    assert "support\t1\t" in run(app, "list").output

    unassigned = run(app, "unassign", "ada@example.com", "support")
    assert unassigned.exit_code == 0 and rbac.effective_role_names(ada) == []
    assert [kind for kind, _ in cli_events()][-2:] == ["admin.role_assigned", "admin.role_unassigned"]


def test_unknown_people_and_roles_are_errors(app, ada):
    run(app, "create", "support")
    for args in (
        ("assign", "nobody@example.com", "support"),
        ("assign", ada.email, "ghost"),
        ("delete", "ghost"),
        ("unassign", ada.email, "ghost"),
    ):
        result = run(app, *args)
        assert result.exit_code == 1, args
    assert rbac.effective_role_names(ada) == [] and role_names() == ["support"]


def test_admin_is_the_built_in_flag_and_the_last_admin_keeps_it(app, ada):
    assert run(app, "assign", ada.email, "admin").exit_code == 0
    db.session.expire_all()
    assert db.session.get(User, ada.id).is_admin

    refused = run(app, "unassign", ada.email, "admin")

    assert refused.exit_code == 2 and "last administrator" in refused.output
    db.session.expire_all()
    assert db.session.get(User, ada.id).is_admin
    assert db.session.scalar(select(Role)) is None  # "admin" never becomes a Role row
