"""Bad input on the sign-in, reset and link pages: a 4xx page, never a 500, and nothing changed."""

from __future__ import annotations

import pytest

from app.models import AuditEvent, EmailToken, EmailTokenPurpose, User, UserSession
from app.security import verify_password
from tests.conftest import DEFAULT_PASSWORD
from tests.integration.auth.helpers import count, csrf, issue_token, post_form, reload, text, tokens_of

EMAIL = "ada@example.com"
NEW_PASSWORD = "tangerine harmonica lighthouse velvet"
TOO_LONG_EMAIL = "a" * 64 + "@" + "b" * 190 + ".com"


@pytest.fixture
def user(create_user) -> User:
    return create_user(email=EMAIL)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param({"password": DEFAULT_PASSWORD}, "Enter your email address.", id="email-missing"),
        pytest.param({"email": "", "password": DEFAULT_PASSWORD}, "Enter your email address.", id="email-empty"),
        pytest.param({"email": EMAIL}, "Enter your password.", id="password-missing"),
        pytest.param({"email": EMAIL, "password": ""}, "Enter your password.", id="password-empty"),
        pytest.param({"email": "not-an-email", "password": DEFAULT_PASSWORD}, "Enter a valid email address.", id="malformed"),
        pytest.param({"email": TOO_LONG_EMAIL, "password": DEFAULT_PASSWORD}, "", id="email-over-254"),
        pytest.param({"email": EMAIL, "password": "x" * 1025}, "", id="password-over-1024"),
        pytest.param({"email": EMAIL + "\x00", "password": DEFAULT_PASSWORD}, "Enter a valid email address.", id="nul-in-email"),
    ],
)
def test_login_with_bad_fields_is_400_and_checks_no_password(test_client, user, data, error):
    response = post_form(test_client, "/login", data)

    assert response.status_code == 400
    assert error in text(response)
    assert 'class="errors"' in text(response)
    assert count(AuditEvent) == 0  # not even a failed attempt: no password was checked
    assert count(UserSession) == 0
    assert reload(user).failed_login_count == 0


@pytest.mark.parametrize(
    "password",
    ["wrong\x00password here", "é" * 1024, "   leading and trailing spaces   "],
    ids=["nul", "1024-multibyte", "spaces"],
)
def test_odd_but_well_formed_passwords_just_fail_to_sign_in(test_client, user, password):
    response = post_form(test_client, "/login", {"email": EMAIL, "password": password})

    assert response.status_code == 401


def test_invalid_utf8_in_the_form_is_not_a_server_error(test_client, user):
    token = csrf(test_client).encode()
    body = b"csrf_token=" + token + b"&email=ada%40example.com&password=%ff%fe%fd" + b"x" * 20

    response = test_client.post("/login", data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 401


def test_credentials_in_the_query_string_are_ignored(test_client, user):
    response = test_client.get(f"/login?email={EMAIL}&password={DEFAULT_PASSWORD}")

    assert response.status_code == 200
    assert count(UserSession) == 0
    assert count(AuditEvent) == 0


def test_json_body_is_not_a_form(test_client, user):
    response = test_client.post("/login", json={"email": EMAIL, "password": DEFAULT_PASSWORD})

    assert response.status_code == 400
    assert count(UserSession) == 0


@pytest.mark.parametrize("path", ["/login", "/register", "/forgot-password"])
def test_body_over_the_size_limit_is_refused_with_413(app, test_client, user, mailbox, path):
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    response = test_client.post(path, data={"csrf_token": csrf(test_client, path), "email": EMAIL, "password": too_big})

    assert response.status_code == 413
    assert "Too much data" in text(response)
    assert count(AuditEvent) == 0
    assert count(User) == 1
    assert mailbox.messages == []


@pytest.mark.parametrize(
    "email",
    ["", "not-an-email", "ada@", TOO_LONG_EMAIL, "ada@example.com\r\nBcc: victim@example.org"],
    ids=["empty", "malformed", "no-domain", "over-254", "header-injection"],
)
def test_forgot_password_with_a_bad_address_is_400_and_sends_nothing(test_client, user, mailbox, email):
    response = post_form(test_client, "/forgot-password", {"email": email}, token_from="/forgot-password")

    assert response.status_code == 400
    assert 'class="errors"' in text(response)
    assert count(EmailToken) == 0
    assert mailbox.messages == []


def test_forgot_password_without_the_email_field_is_400(test_client, user, mailbox):
    response = post_form(test_client, "/forgot-password", {}, token_from="/forgot-password")

    assert response.status_code == 400
    assert "Enter your email address." in text(response)
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param({}, "Choose a new password.", id="missing"),
        pytest.param({"password": ""}, "Choose a new password.", id="empty"),
        pytest.param({"password": " " * 20}, "Choose a new password.", id="blank"),
        pytest.param({"password": "x" * 1025}, "", id="over-1024"),
    ],
)
def test_reset_with_a_bad_password_field_is_400_and_keeps_the_link(test_client, user, data, error):
    token = issue_token(user, EmailTokenPurpose.RESET)

    response = post_form(test_client, f"/reset-password/{token}", data, token_from=f"/reset-password/{token}")

    assert response.status_code == 400
    assert error in text(response)
    assert verify_password(DEFAULT_PASSWORD, reload(user).password_hash)[0]
    assert tokens_of(user, EmailTokenPurpose.RESET)[0].used_at is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/login"),
        ("delete", "/login"),
        ("patch", "/register"),
        ("put", "/forgot-password"),
        ("delete", "/reset-password/anything"),
        ("put", "/verify-email/anything"),
        ("get", "/logout"),
        ("put", "/logout"),
    ],
)
def test_unsupported_methods_get_the_405_page(test_client, method, path):
    response = getattr(test_client, method)(path)

    assert response.status_code == 405
    assert "This page can't be used that way." in text(response)


def test_unknown_page_gets_the_404_page_without_internals(test_client):
    response = test_client.get("/verify-email/a/b")

    assert response.status_code == 404
    page = text(response)
    assert "Page not found" in page
    assert "Traceback" not in page and "werkzeug" not in page.lower()


def test_get_on_the_resend_address_is_an_invalid_link_not_a_resend(test_client, create_user, auth, mailbox):
    unverified = create_user(email="grace@example.com", verified=False)
    auth.login("grace@example.com")

    response = test_client.get("/verify-email/resend")

    assert response.status_code == 400
    assert tokens_of(unverified, EmailTokenPurpose.VERIFY) == []
    assert mailbox.messages == []
