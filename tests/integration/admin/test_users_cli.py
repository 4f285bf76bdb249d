"""``flask users disable|enable|unlock EMAIL``: the console's actions for scripts, with the same guard rails."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from app.models.base import utcnow
from tests.conftest import AuthActions


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["users", *args])


def fresh(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def last_event():
    return db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))


def test_disable_signs_the_person_out_and_is_audited_as_the_operator(app, create_user):
    bob = create_user(email="bob@example.com")
    browser = AuthActions(app.test_client())
    browser.login("bob@example.com")
    assert browser.client.get("/account/").status_code == 200

    result = run(app, "disable", "BOB@example.com")

    assert result.exit_code == 0, result.output
    assert "Disabled: bob@example.com" in result.output
    assert fresh(bob).is_disabled is True
    assert browser.client.get("/account/").status_code == 302
    event = last_event()
    assert (event.event_type, event.subject_user_id, event.user_agent) == ("admin.user_disabled", bob.id, "flask-cli")
    assert event.details["sessions_ended"] == 1


def test_enable_lets_the_person_back_in(app, create_user):
    bob = create_user(email="bob@example.com", is_disabled=True)

    result = run(app, "enable", "bob@example.com")

    assert result.exit_code == 0
    assert fresh(bob).is_disabled is False
    assert last_event().event_type == "admin.user_enabled"


def test_unlock_clears_the_lockout(app, create_user):
    bob = create_user(email="bob@example.com", failed_login_count=20, locked_until=utcnow() + timedelta(minutes=5))

    result = run(app, "unlock", "bob@example.com")

    assert result.exit_code == 0
    bob = fresh(bob)
    assert (bob.failed_login_count, bob.locked_until) == (0, None)
    assert last_event().event_type == "admin.user_unlocked"


def test_an_unknown_address_fails_and_changes_nothing(app):
    for command in ("disable", "enable", "unlock"):
        result = run(app, command, "nobody@example.com")
        assert result.exit_code == 1
        assert "No account uses nobody@example.com" in result.output
    assert last_event() is None


def test_the_last_enabled_admin_cannot_be_disabled(app, create_user):
    root = create_user(email="root@example.com", is_admin=True)

    result = run(app, "disable", "root@example.com")

    assert result.exit_code == 1
    assert "last enabled administrator" in result.output
    assert fresh(root).is_disabled is False
    assert last_event() is None


def test_an_admin_can_be_disabled_while_another_remains(app, create_user):
    create_user(email="root@example.com", is_admin=True)
    ops = create_user(email="ops@example.com", is_admin=True)

    assert run(app, "disable", "ops@example.com").exit_code == 0
    assert fresh(ops).is_disabled is True
