""" "Keep me signed in": a persistent cookie and the longer limits on that session's row, only when ticked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.core.maintenance import prune_expired
from app.extensions import db
from app.models import UserSession
from app.models.base import utcnow
from tests.conftest import AuthActions, shown_time
from tests.integration.account.test_password_change import change
from tests.integration.auth.helpers import auth_set_cookie, cookie_attributes, count, is_signed_in, sessions_of, text

EMAIL = "ada@example.com"
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def sign_in(client, keep: bool):
    actions = AuthActions(client)
    data = {"csrf_token": actions.csrf(), "email": EMAIL, "password": "correct horse battery staple"}
    if keep:
        data["keep_signed_in"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 303
    return response


@pytest.fixture
def ada(create_user):
    return create_user(email=EMAIL)


def test_unticked_gives_a_browser_session_cookie_and_the_configured_limits(test_client, ada):
    attributes = cookie_attributes(auth_set_cookie(sign_in(test_client, keep=False)))

    assert "max-age" not in attributes and "expires" not in attributes
    [row] = sessions_of(ada)
    assert not row.kept_signed_in and row.idle_seconds is None


def test_ticked_gives_a_cookie_that_lasts_until_the_absolute_limit(app, test_client, ada):
    attributes = cookie_attributes(auth_set_cookie(sign_in(test_client, keep=True)))

    absolute = app.config["REMEMBER_ABSOLUTE_TIMEOUT"]
    assert absolute - timedelta(minutes=1) < timedelta(seconds=int(attributes["max-age"])) <= absolute
    assert "httponly" in attributes and attributes["samesite"] == "Lax"
    [row] = sessions_of(ada)
    assert row.kept_signed_in
    assert (row.idle_seconds, row.absolute_seconds) == (
        app.config["REMEMBER_IDLE_TIMEOUT"].total_seconds(),
        absolute.total_seconds(),
    )


def _age(row: UserSession, *, idle: timedelta, old: timedelta) -> None:
    row.last_seen_at = utcnow() - idle
    row.created_at = row.auth_time = utcnow() - old
    db.session.commit()


def test_kept_session_outlives_the_short_limits(app, test_client, ada):
    sign_in(test_client, keep=True)
    [row] = sessions_of(ada)
    _age(row, idle=app.config["SESSION_IDLE_TIMEOUT"] + DAY, old=app.config["SESSION_ABSOLUTE_TIMEOUT"] + 2 * DAY)

    assert is_signed_in(test_client)


def test_short_session_ends_at_the_short_limits(app, test_client, ada):
    sign_in(test_client, keep=False)
    [row] = sessions_of(ada)
    _age(row, idle=app.config["SESSION_IDLE_TIMEOUT"] + SECOND, old=timedelta(0))

    assert not is_signed_in(test_client)


@pytest.mark.parametrize("limit", ["idle", "absolute"])
def test_kept_session_ends_at_its_own_limits(app, test_client, ada, limit):
    sign_in(test_client, keep=True)
    [row] = sessions_of(ada)
    idle, absolute = app.config["REMEMBER_IDLE_TIMEOUT"], app.config["REMEMBER_ABSOLUTE_TIMEOUT"]
    if limit == "idle":
        _age(row, idle=idle + SECOND, old=idle + SECOND)
    else:
        _age(row, idle=timedelta(0), old=absolute + SECOND)

    assert not is_signed_in(test_client)


def test_password_change_elsewhere_ends_the_kept_session(app, test_client, ada):
    sign_in(test_client, keep=True)
    other = app.test_client()
    sign_in(other, keep=False)

    assert change(other).status_code == 303

    assert not is_signed_in(test_client)
    assert is_signed_in(other)


def test_sessions_page_shows_each_sessions_limits_and_the_kept_one(app, test_client, ada):
    sign_in(test_client, keep=True)
    sign_in(app.test_client(), keep=False)
    rows = {row.kept_signed_in: row for row in sessions_of(ada)}

    page = re.sub(r"<[^>]+>", "", text(test_client.get("/account/sessions")))

    kept_end = shown_time(app, rows[True].created_at + app.config["REMEMBER_ABSOLUTE_TIMEOUT"])
    short_end = shown_time(app, rows[False].created_at + app.config["SESSION_ABSOLUTE_TIMEOUT"])
    assert f"after 7 days idle, at the latest on {kept_end}" in page
    assert f"after 1 hour idle, at the latest on {short_end}" in page
    assert page.count("kept signed in") == 1


def test_prune_keeps_a_kept_session_past_the_short_limits(app, test_client, ada):
    sign_in(test_client, keep=True)
    sign_in(app.test_client(), keep=False)
    for row in sessions_of(ada):
        _age(row, idle=3 * DAY, old=3 * DAY)

    assert prune_expired(app.config)["sessions"] == 1

    assert count(UserSession) == 1
    assert is_signed_in(test_client)
