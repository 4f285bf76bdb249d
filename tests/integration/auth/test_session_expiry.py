"""Ended sessions: idle, too old, revoked or disabled sessions send the browser to sign in and drop its cookie."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from app.extensions import db
from app.models import User, UserSession
from app.models.base import utcnow
from app.web.messages import message
from tests.integration.auth.helpers import (
    AUTH_COOKIE,
    auth_cookie,
    auth_set_cookie,
    client_with_cookie,
    is_cleared,
    reload,
    sessions_of,
    text,
)

EMAIL = "ada@example.com"
SECOND = timedelta(seconds=1)


def _idle(app: Flask, user_session: UserSession, user: User) -> None:
    user_session.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - SECOND


def _too_old(app: Flask, user_session: UserSession, user: User) -> None:
    # Active a moment ago, but signed in longer ago than the absolute limit.
    user_session.created_at = user_session.auth_time = utcnow() - app.config["SESSION_ABSOLUTE_TIMEOUT"] - SECOND
    user_session.last_seen_at = utcnow()


def _revoked(app: Flask, user_session: UserSession, user: User) -> None:
    user_session.revoked_at = utcnow()


def _user_disabled(app: Flask, user_session: UserSession, user: User) -> None:
    user.is_disabled = True


ENDINGS: dict[str, Callable[[Flask, UserSession, User], None]] = {
    "idle-expired": _idle,
    "absolute-expired": _too_old,
    "revoked": _revoked,
    "user-disabled": _user_disabled,
}


@pytest.fixture
def signed_in(test_client, create_user, auth) -> tuple[User, UserSession]:
    user = create_user(email=EMAIL)
    assert auth.login(EMAIL).status_code == 303
    [user_session] = sessions_of(user)
    return user, user_session


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
def test_ended_session_redirects_to_login_and_clears_the_cookie(app, test_client, signed_in, ending):
    user, user_session = signed_in
    ending(app, user_session, user)
    db.session.commit()

    response = test_client.get("/account/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert is_cleared(auth_set_cookie(response))
    assert auth_cookie(test_client) is None
    assert message("session_ended") in text(test_client.get(response.headers["Location"]))


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
def test_ended_session_cannot_be_revived_by_replaying_its_cookie(app, test_client, signed_in, ending):
    user, user_session = signed_in
    value = auth_cookie(test_client)
    ending(app, user_session, user)
    db.session.commit()
    test_client.get("/account/")

    response = client_with_cookie(app, value).get("/account/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_ended_session_does_not_count_as_signed_in_on_the_login_page(app, test_client, signed_in):
    _, user_session = signed_in
    _idle(app, user_session, user_session.user)
    db.session.commit()

    response = test_client.get("/login")

    assert response.status_code == 200
    assert 'name="password"' in text(response)
    assert is_cleared(auth_set_cookie(response))


def test_use_within_the_idle_timeout_keeps_the_session_alive(app, test_client, signed_in):
    _, user_session = signed_in
    user_session.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1)
    db.session.commit()

    assert test_client.get("/account/").status_code == 200

    assert utcnow() - reload(user_session).last_seen_at < timedelta(minutes=1)


def test_recent_activity_is_not_written_on_every_request(app, test_client, signed_in):
    _, user_session = signed_in
    seen = utcnow() - app.config["SESSION_TOUCH_INTERVAL"] + timedelta(minutes=1)
    user_session.last_seen_at = seen
    db.session.commit()

    assert test_client.get("/account/").status_code == 200

    assert reload(user_session).last_seen_at == seen


@pytest.mark.parametrize("value", ["forged-" + "a" * 40, "x" * 129, ""], ids=["forged", "oversized", "empty"])
def test_unknown_cookie_value_is_not_a_session(app, signed_in, value):
    response = client_with_cookie(app, value).get("/account/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_forged_cookie_is_dropped(app, signed_in):
    client = client_with_cookie(app, "forged-" + "a" * 40)

    response = client.get("/account/")

    assert is_cleared(auth_set_cookie(response))
    assert client.get_cookie(AUTH_COOKIE) is None
