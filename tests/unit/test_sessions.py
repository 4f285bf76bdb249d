"""Server-side sign-in sessions (ASVS 7.2-7.4): digest at rest, timeouts, revocation, rare writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import Origin
from app.core.sessions import (
    SessionPolicy,
    find_active_session,
    revoke_session,
    revoke_user_sessions,
    start_session,
    touch_session,
)
from app.extensions import db
from app.models import UserSession
from app.models.base import utcnow
from app.security import token_digest

POLICY = SessionPolicy(idle=timedelta(hours=1), absolute=timedelta(hours=24), touch_interval=timedelta(minutes=5))
ORIGIN = Origin(ip_address="203.0.113.9", user_agent="pytest")


@pytest.fixture
def signed_in(create_user):
    """start(user=None) -> (UserSession, cookie value), committed."""

    def start(user=None):
        user_session, cookie_value = start_session(user or create_user(), origin=ORIGIN, amr=["pwd"])
        db.session.commit()
        return user_session, cookie_value

    return start


def test_the_database_keeps_only_the_digest_of_the_cookie_value(signed_in):
    user_session, cookie_value = signed_in()
    assert user_session.token_digest == token_digest(cookie_value)
    row = db.session.execute(select(UserSession.__table__)).one()
    assert all(cookie_value not in str(value) for value in row)


def test_a_new_session_records_when_and_how_the_person_signed_in(signed_in):
    before = utcnow()
    user_session, cookie_value = signed_in()
    assert len(cookie_value) >= 43  # 256 bits, URL-safe
    assert user_session.amr == ["pwd"]
    assert before <= user_session.auth_time == user_session.created_at == user_session.last_seen_at <= utcnow()
    assert (user_session.ip_address, user_session.user_agent) == ("203.0.113.9", "pytest")


def test_each_sign_in_gets_a_new_cookie_value_and_id(signed_in, create_user):
    user = create_user()
    first, second = signed_in(user), signed_in(user)
    assert first[1] != second[1] and first[0].id != second[0].id


def test_the_cookie_value_finds_its_live_session(signed_in):
    user_session, cookie_value = signed_in()
    assert find_active_session(cookie_value, POLICY) is user_session


def test_an_unknown_cookie_value_finds_nothing(signed_in):
    _user_session, cookie_value = signed_in()
    assert find_active_session(cookie_value + "x", POLICY) is None
    assert find_active_session(token_digest(cookie_value), POLICY) is None  # the stored digest is not a key


def test_a_revoked_session_is_not_active(signed_in):
    user_session, cookie_value = signed_in()
    revoke_session(user_session)
    db.session.commit()
    assert find_active_session(cookie_value, POLICY) is None


def test_revoking_twice_keeps_the_first_revocation_time(signed_in):
    user_session, _cookie_value = signed_in()
    revoke_session(user_session)
    first = user_session.revoked_at
    revoke_session(user_session)
    assert user_session.revoked_at == first


def test_a_session_idle_for_the_idle_timeout_is_expired(signed_in):
    user_session, cookie_value = signed_in()
    last_seen = user_session.last_seen_at
    assert find_active_session(cookie_value, POLICY, now=last_seen + POLICY.idle - timedelta(seconds=1)) is user_session
    assert find_active_session(cookie_value, POLICY, now=last_seen + POLICY.idle) is None


def test_a_session_older_than_the_absolute_timeout_is_expired_even_if_recently_used(signed_in):
    user_session, cookie_value = signed_in()
    created = user_session.created_at
    user_session.last_seen_at = created + POLICY.absolute - timedelta(minutes=1)
    db.session.commit()
    now = created + POLICY.absolute - timedelta(seconds=1)
    assert find_active_session(cookie_value, POLICY, now=now) is user_session
    assert find_active_session(cookie_value, POLICY, now=created + POLICY.absolute) is None


def test_the_configured_timeouts_stay_within_one_hour_idle_and_a_day_absolute(app):
    policy = SessionPolicy.from_config(app.config)
    assert policy.idle <= timedelta(hours=1) and policy.absolute <= timedelta(hours=24)


def test_a_disabled_users_sessions_are_not_active(signed_in, create_user):
    user = create_user()
    _user_session, cookie_value = signed_in(user)
    user.is_disabled = True
    db.session.commit()
    assert find_active_session(cookie_value, POLICY) is None


def test_touch_does_not_write_within_the_interval(signed_in):
    user_session, _cookie_value = signed_in()
    last_seen = user_session.last_seen_at
    assert touch_session(user_session, POLICY, now=last_seen + POLICY.touch_interval - timedelta(seconds=1)) is False
    assert user_session.last_seen_at == last_seen
    assert user_session not in db.session.dirty


def test_touch_moves_last_seen_once_the_interval_has_passed(signed_in):
    user_session, _cookie_value = signed_in()
    later = user_session.last_seen_at + POLICY.touch_interval
    assert touch_session(user_session, POLICY, now=later) is True
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(UserSession, user_session.id).last_seen_at == later
    assert touch_session(user_session, POLICY, now=later + timedelta(seconds=10)) is False


def test_a_touched_session_survives_past_the_original_idle_deadline(signed_in):
    user_session, cookie_value = signed_in()
    later = user_session.last_seen_at + timedelta(minutes=50)
    touch_session(user_session, POLICY, now=later)
    db.session.commit()
    assert find_active_session(cookie_value, POLICY, now=later + timedelta(minutes=50)) is user_session


def test_revoke_user_sessions_ends_all_but_the_kept_one_and_spares_other_users(signed_in, create_user):
    user, other = create_user(), create_user()
    kept, kept_cookie = signed_in(user)
    _ended_a, cookie_a = signed_in(user)
    _ended_b, cookie_b = signed_in(user)
    _others, other_cookie = signed_in(other)

    assert revoke_user_sessions(user, keep=kept) == 2
    db.session.commit()

    assert find_active_session(kept_cookie, POLICY) is not None
    assert find_active_session(cookie_a, POLICY) is None
    assert find_active_session(cookie_b, POLICY) is None
    assert find_active_session(other_cookie, POLICY) is not None


def test_revoke_user_sessions_without_keep_ends_every_one_and_counts_only_live_ones(signed_in, create_user):
    user = create_user()
    already, _cookie = signed_in(user)
    revoke_session(already)
    sessions = [signed_in(user) for _ in range(2)]
    db.session.commit()

    assert revoke_user_sessions(user) == 2
    db.session.commit()
    assert all(find_active_session(cookie, POLICY) is None for _row, cookie in sessions)
