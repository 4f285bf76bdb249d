"""Sign-out: POST with CSRF only, ends the session server-side, and the old cookie is dead on replay."""

from __future__ import annotations

from app.web.messages import message
from tests.conftest import audit_types
from tests.integration.auth.helpers import (
    auth_cookie,
    auth_set_cookie,
    client_with_cookie,
    is_cleared,
    is_signed_in,
    sessions_of,
    text,
)

EMAIL = "ada@example.com"


def test_logout_by_get_is_refused_with_405_page(test_client, create_user, auth):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)

    response = test_client.get("/logout")

    assert response.status_code == 405
    assert "This page can't be used that way." in text(response)
    assert "POST" in response.headers["Allow"]
    assert is_signed_in(test_client)
    assert sessions_of(user)[0].revoked_at is None


def test_logout_without_csrf_token_is_400_and_the_session_stays_valid(test_client, create_user, auth):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)

    response = test_client.post("/logout")

    assert response.status_code == 400
    assert auth_set_cookie(response) is None
    assert is_signed_in(test_client)
    assert sessions_of(user)[0].revoked_at is None
    assert "auth.logout" not in audit_types(user)


def test_logout_ends_the_session_server_side_and_clears_the_cookie(test_client, create_user, auth):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)

    response = auth.logout()

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert is_cleared(auth_set_cookie(response))
    assert auth_cookie(test_client) is None
    [user_session] = sessions_of(user)
    assert user_session.revoked_at is not None
    assert audit_types(user)[-1] == "auth.logout"
    assert message("logout") in text(test_client.get("/login"))


def test_cookie_replayed_after_logout_does_not_authenticate(app, test_client, create_user, auth):
    create_user(email=EMAIL)
    auth.login(EMAIL)
    stolen = auth_cookie(test_client)

    auth.logout()
    replay = client_with_cookie(app, stolen).get("/account/")

    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login")
    assert is_cleared(auth_set_cookie(replay))


def test_logout_ends_only_this_browsers_session(app, test_client, create_user, auth):
    user = create_user(email=EMAIL)
    other_browser = app.test_client()
    auth.login(EMAIL)
    type(auth)(other_browser).login(EMAIL)

    auth.logout()

    assert not is_signed_in(test_client)
    assert is_signed_in(other_browser)
    assert sorted(s.revoked_at is None for s in sessions_of(user)) == [False, True]


def test_logout_when_signed_out_just_returns_to_login(test_client, auth):
    token = auth.csrf("/login")

    response = test_client.post("/logout", data={"csrf_token": token})

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
