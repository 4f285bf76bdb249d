"""The audit trail (ASVS 16.3): UTC rows in the caller's transaction, and never a secret in the details."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select

from app.core.audit import Origin, record_event
from app.extensions import db
from app.models import AuditEvent

ORIGIN = Origin(ip_address="192.0.2.4", user_agent="pytest-agent")


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "token",
        "secret",
        "code",
        "otp",
        "cookie",
        "client_secret",
        "refresh_token",
        "access_token",
        "new_password",
        "recovery_code",
        "session_cookie",
        "Password",
    ],
)
def test_secret_looking_detail_keys_are_refused_and_nothing_is_recorded(app, create_user, key):
    user = create_user()
    with pytest.raises(ValueError, match="must not carry secrets"):
        record_event("auth.example", origin=ORIGIN, subject=user, **{key: "s3cr3t"})
    db.session.commit()
    assert db.session.scalars(select(AuditEvent)).all() == []


@pytest.mark.parametrize("key", ["reason", "seconds", "failures", "session_id", "amr", "known", "sessions_ended", "client_id"])
def test_ordinary_detail_keys_are_kept(app, create_user, key):
    user = create_user()
    record_event("auth.example", origin=ORIGIN, subject=user, **{key: "value"})
    db.session.commit()
    assert db.session.scalar(select(AuditEvent)).details == {key: "value"}


def test_an_event_records_who_from_where_and_when_in_utc(app, create_user):
    user = create_user()
    record_event("auth.login", origin=ORIGIN, subject=user, amr=["pwd"])
    db.session.commit()
    db.session.expire_all()
    event = db.session.scalar(select(AuditEvent))
    assert (event.event_type, event.subject_user_id, event.actor_user_id) == ("auth.login", user.id, user.id)
    assert (event.ip_address, event.user_agent) == ("192.0.2.4", "pytest-agent")
    assert event.created_at.tzinfo == UTC
    assert event.details == {"amr": ["pwd"]}


def test_an_admin_acting_on_another_account_is_the_actor(app, create_user):
    admin, user = create_user(is_admin=True), create_user()
    record_event("admin.user_disabled", origin=ORIGIN, subject=user, actor=admin)
    db.session.commit()
    event = db.session.scalar(select(AuditEvent))
    assert (event.subject_user_id, event.actor_user_id) == (user.id, admin.id)


def test_an_event_is_part_of_the_callers_transaction(app, create_user):
    user = create_user()
    record_event("auth.login", origin=ORIGIN, subject=user)
    db.session.rollback()
    assert db.session.scalars(select(AuditEvent)).all() == []
