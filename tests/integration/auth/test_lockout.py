"""Lockout: wrong passwords lock the account for a while, the right one waits it out, success resets the count."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.models.base import utcnow
from app.web.messages import message
from tests.conftest import DEFAULT_PASSWORD, audit_types
from tests.integration.auth.helpers import auth_set_cookie, post_form, reload, sessions_of, text

EMAIL = "ada@example.com"
WRONG = "not the right password at all"


def login(client, password: str):
    return post_form(client, "/login", {"email": EMAIL, "password": password})


def fail(client, times: int) -> None:
    for _ in range(times):
        assert login(client, WRONG).status_code == 401


def lock_seconds(user) -> float:
    return (reload(user).locked_until - utcnow()).total_seconds()


def unlock_by_time(user) -> None:
    """The lock ran out: move it into the past instead of waiting."""
    user = reload(user)
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_failures_below_the_threshold_do_not_lock(app, test_client, create_user):
    user = create_user(email=EMAIL)

    fail(test_client, app.config["LOCKOUT_THRESHOLD"] - 1)

    user = reload(user)
    assert user.failed_login_count == app.config["LOCKOUT_THRESHOLD"] - 1
    assert user.locked_until is None
    assert "auth.locked" not in audit_types(user)


def test_threshold_of_wrong_passwords_locks_the_account(app, test_client, create_user):
    user = create_user(email=EMAIL)
    assert app.config["LOCKOUT_THRESHOLD"] == 5

    fail(test_client, 5)

    assert 55 <= lock_seconds(user) <= app.config["LOCKOUT_BASE_SECONDS"]
    assert audit_types(user) == ["auth.login_failed"] * 5 + ["auth.locked"]
    locked = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "auth.locked"))
    assert locked.details == {"seconds": 60, "failures": 5}


def test_right_password_fails_while_locked_with_the_same_answer(test_client, create_user):
    user = create_user(email=EMAIL)
    fail(test_client, 5)

    response = login(test_client, DEFAULT_PASSWORD)

    assert response.status_code == 401
    assert message("login_failed") in text(response)
    assert auth_set_cookie(response) is None
    assert sessions_of(user) == []
    assert audit_types(user)[-1] == "auth.login_failed"


def test_right_password_works_once_the_lock_has_expired(test_client, create_user):
    user = create_user(email=EMAIL)
    fail(test_client, 5)
    unlock_by_time(user)

    response = login(test_client, DEFAULT_PASSWORD)

    assert response.status_code == 303
    user = reload(user)
    assert user.failed_login_count == 0
    assert user.locked_until is None


def test_success_resets_the_failure_count(app, test_client, create_user):
    user = create_user(email=EMAIL)
    fail(test_client, 4)
    assert login(test_client, DEFAULT_PASSWORD).status_code == 303
    assert reload(user).failed_login_count == 0

    fail(app.test_client(), 4)  # another browser: this one is signed in now

    assert reload(user).locked_until is None


def test_failing_again_after_a_lock_locks_for_longer(test_client, create_user):
    user = create_user(email=EMAIL)
    fail(test_client, 5)
    first = lock_seconds(user)
    unlock_by_time(user)

    fail(test_client, 1)

    assert lock_seconds(user) > first + 30  # 60 s, then 120 s: the delay rises


def test_lock_duration_is_capped(app, test_client, create_user):
    user = create_user(email=EMAIL, failed_login_count=40)

    fail(test_client, 1)

    assert 0 < lock_seconds(user) <= app.config["LOCKOUT_MAX_SECONDS"]


def test_attempts_while_locked_do_not_extend_the_lock(test_client, create_user):
    user = create_user(email=EMAIL)
    fail(test_client, 5)
    until = reload(user).locked_until

    fail(test_client, 3)

    assert reload(user).locked_until == until


def test_wrong_passwords_for_an_unknown_address_create_nothing(test_client, create_user):
    create_user(email=EMAIL)

    for _ in range(6):
        assert post_form(test_client, "/login", {"email": "nobody@example.com", "password": WRONG}).status_code == 401

    assert audit_types() == ["auth.login_failed"] * 6
    assert db.session.scalar(select(AuditEvent.subject_user_id).limit(1)) is None
