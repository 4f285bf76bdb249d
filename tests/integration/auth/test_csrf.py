"""CSRF: every state-changing form refuses a missing or wrong token with the friendly 400 page, and changes nothing."""

from __future__ import annotations

import pytest

from app.models import AuditEvent, EmailToken, EmailTokenPurpose, User, UserSession
from app.security import verify_password
from tests.conftest import DEFAULT_PASSWORD
from tests.integration.auth.helpers import (
    BAD_REQUEST_TEXT,
    BAD_REQUEST_TITLE,
    auth_set_cookie,
    count,
    csrf,
    is_signed_in,
    issue_token,
    reload,
    sessions_of,
    text,
    tokens_of,
)

EMAIL = "ada@example.com"
NEW_PASSWORD = "tangerine harmonica lighthouse velvet"


@pytest.fixture(params=["missing", "empty", "garbage", "other-browser"])
def bad_token(request, app) -> dict[str, str]:
    """The csrf_token part of a forged form: absent, blank, made up, or valid for someone else's browser."""
    if request.param == "missing":
        return {}
    if request.param == "empty":
        return {"csrf_token": ""}
    if request.param == "garbage":
        return {"csrf_token": "IjBhZGM0ZjM2YjY0NjE0ZjQ2NzA5YjE2YjA0ZDU5YjQ0ZjE5ZDI4N2Mi.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb"}
    return {"csrf_token": csrf(app.test_client())}


def assert_friendly_400(response) -> None:
    assert response.status_code == 400
    page = text(response)
    assert BAD_REQUEST_TITLE in page and BAD_REQUEST_TEXT in page
    assert "CSRF token" not in page  # no library wording or internals
    assert auth_set_cookie(response) is None


def test_login_refuses_a_bad_token(test_client, create_user, bad_token):
    user = create_user(email=EMAIL)
    test_client.get("/login")  # this browser has its own state and token

    response = test_client.post("/login", data={"email": EMAIL, "password": DEFAULT_PASSWORD, **bad_token})

    assert_friendly_400(response)
    assert sessions_of(user) == []
    assert count(AuditEvent) == 0
    assert reload(user).failed_login_count == 0
    assert not is_signed_in(test_client)


def test_register_refuses_a_bad_token(test_client, mailbox, bad_token):
    test_client.get("/register")

    response = test_client.post("/register", data={"email": EMAIL, "password": NEW_PASSWORD, "display_name": "", **bad_token})

    assert_friendly_400(response)
    assert count(User) == 0
    assert count(AuditEvent) == 0
    assert mailbox.messages == []


def test_logout_refuses_a_bad_token(test_client, create_user, auth, bad_token):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)

    response = test_client.post("/logout", data=bad_token)

    assert_friendly_400(response)
    assert is_signed_in(test_client)
    assert sessions_of(user)[0].revoked_at is None


def test_forgot_password_refuses_a_bad_token(test_client, create_user, mailbox, bad_token):
    create_user(email=EMAIL)
    test_client.get("/forgot-password")

    response = test_client.post("/forgot-password", data={"email": EMAIL, **bad_token})

    assert_friendly_400(response)
    assert count(EmailToken) == 0
    assert count(AuditEvent) == 0
    assert mailbox.messages == []


def test_reset_password_refuses_a_bad_token(test_client, create_user, mailbox, bad_token):
    user = create_user(email=EMAIL)
    token = issue_token(user, EmailTokenPurpose.RESET)
    test_client.get(f"/reset-password/{token}")

    response = test_client.post(f"/reset-password/{token}", data={"password": NEW_PASSWORD, **bad_token})

    assert_friendly_400(response)
    assert verify_password(DEFAULT_PASSWORD, reload(user).password_hash)[0]
    assert tokens_of(user, EmailTokenPurpose.RESET)[0].used_at is None
    assert mailbox.messages == []


def test_verify_email_refuses_a_bad_token(test_client, create_user, bad_token):
    user = create_user(email=EMAIL, verified=False)
    token = issue_token(user, EmailTokenPurpose.VERIFY)
    test_client.get(f"/verify-email/{token}")

    response = test_client.post(f"/verify-email/{token}", data=bad_token)

    assert_friendly_400(response)
    assert reload(user).email_verified_at is None
    assert tokens_of(user, EmailTokenPurpose.VERIFY)[0].used_at is None


def test_resend_verification_refuses_a_bad_token(test_client, create_user, auth, mailbox, bad_token):
    user = create_user(email=EMAIL, verified=False)
    auth.login(EMAIL)

    response = test_client.post("/verify-email/resend", data=bad_token)

    assert_friendly_400(response)
    assert tokens_of(user, EmailTokenPurpose.VERIFY) == []
    assert mailbox.messages == []


def test_token_is_bound_to_the_browser_not_reusable_across_sign_out(test_client, create_user, auth):
    create_user(email=EMAIL)
    auth.login(EMAIL)
    token = csrf(test_client, "/account/")
    auth.logout()
    auth.login(EMAIL)

    assert_friendly_400(test_client.post("/logout", data={"csrf_token": token}))
    assert is_signed_in(test_client)


def test_valid_token_is_accepted(test_client, create_user):
    """The control case: the same POST with this browser's own token goes through."""
    create_user(email=EMAIL)

    response = test_client.post("/login", data={"csrf_token": csrf(test_client), "email": EMAIL, "password": DEFAULT_PASSWORD})

    assert response.status_code == 303
    assert count(UserSession) == 1
