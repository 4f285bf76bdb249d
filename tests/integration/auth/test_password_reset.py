"""Password reset: same answer for any address, single-use expiring links, policy, and every session ended."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import AuditEvent, EmailToken, EmailTokenPurpose
from app.models.base import utcnow
from app.security import verify_password
from app.web.messages import message
from tests.conftest import DEFAULT_PASSWORD, audit_types
from tests.integration.auth.helpers import (
    JUNK_TOKENS,
    UNKNOWN_RESET_TOKEN,
    auth_cookie,
    auth_set_cookie,
    client_with_cookie,
    count,
    csrf,
    expire_token,
    is_cleared,
    is_signed_in,
    issue_token,
    path_of,
    post_form,
    reload,
    sessions_of,
    text,
    tokens_of,
)

EMAIL = "ada.lovelace@example.com"
NEW_PASSWORD = "tangerine harmonica lighthouse velvet"


def request_reset(client, email: str = EMAIL):
    return post_form(client, "/forgot-password", {"email": email}, token_from="/forgot-password")


def mailed_reset_path(app, mailbox, email: str = EMAIL) -> str:
    return path_of(mailbox.wait_for(email, "Choose a new password").link("/reset-password/"), app.config["ISSUER"])


def set_password(client, path: str, password: str = NEW_PASSWORD):
    """Open the link and submit the form on it, as a person would."""
    return post_form(client, path, {"password": password}, token_from=path)


def login(client, password: str, email: str = EMAIL):
    return post_form(client, "/login", {"email": email, "password": password})


def post_to_link(client, path: str, password: str = NEW_PASSWORD):
    """Submit a new password to a link without opening it first (a refused link has no form)."""
    return client.post(path, data={"csrf_token": csrf(client), "password": password})


def assert_link_refused(response) -> None:
    assert response.status_code == 400
    assert message("reset_invalid") in text(response)


def password_is(user, password: str) -> bool:
    return verify_password(password, reload(user).password_hash)[0]


@pytest.fixture
def user(create_user):
    return create_user(email=EMAIL)


def test_forgot_password_page_shows_the_form(test_client):
    response = test_client.get("/forgot-password")

    assert response.status_code == 200
    assert 'name="email"' in text(response) and 'name="csrf_token"' in text(response)


def test_known_and_unknown_addresses_get_the_same_page_but_only_the_known_one_a_mail(test_client, user, mailbox):
    known = request_reset(test_client, EMAIL)
    unknown = request_reset(test_client, "nobody@example.com")

    assert known.status_code == unknown.status_code == 200
    assert text(known) == text(unknown)
    assert message("reset_requested") in text(known)
    assert len(mailbox.to(EMAIL)) == 1
    assert mailbox.to("nobody@example.com") == []
    assert count(EmailToken) == 1
    assert count(AuditEvent, AuditEvent.event_type == "auth.password_reset_requested") == 2


def test_reset_request_matches_the_address_case_insensitively(app, test_client, user, mailbox):
    request_reset(test_client, "ADA.Lovelace@EXAMPLE.com")

    assert mailed_reset_path(app, mailbox).startswith("/reset-password/reset_")
    assert mailbox.to("ADA.Lovelace@EXAMPLE.com") == []


def test_disabled_account_gets_the_same_page_and_no_mail(test_client, create_user, mailbox):
    create_user(email=EMAIL, is_disabled=True)

    response = request_reset(test_client)

    assert response.status_code == 200
    assert message("reset_requested") in text(response)
    assert mailbox.messages == []
    assert count(EmailToken) == 0


def test_reset_link_shows_the_new_password_form(app, test_client, user, mailbox):
    request_reset(test_client)

    response = test_client.get(mailed_reset_path(app, mailbox))

    assert response.status_code == 200
    assert 'name="password"' in text(response) and 'autocomplete="new-password"' in text(response)
    assert tokens_of(user, EmailTokenPurpose.RESET)[0].used_at is None  # opening the link uses nothing


def test_reset_sets_the_new_password_and_redirects_to_sign_in(app, test_client, user, mailbox):
    request_reset(test_client)

    response = set_password(test_client, mailed_reset_path(app, mailbox))

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert password_is(user, NEW_PASSWORD)
    assert not password_is(user, DEFAULT_PASSWORD)
    assert message("reset_success") in text(test_client.get("/login"))
    assert audit_types(user)[-1] == "auth.password_reset_completed"
    assert login(test_client, DEFAULT_PASSWORD).status_code == 401
    assert login(test_client, NEW_PASSWORD).status_code == 303


def test_reset_mails_a_password_changed_notice(app, test_client, user, mailbox):
    request_reset(test_client)
    set_password(test_client, mailed_reset_path(app, mailbox))

    notice = mailbox.wait_for(EMAIL, "Your password was changed")

    assert "was just changed" in notice.text
    assert path_of(notice.link("/forgot-password"), app.config["ISSUER"]) == "/forgot-password"
    assert NEW_PASSWORD not in notice.text


def test_reset_link_works_only_once(app, test_client, user, mailbox):
    request_reset(test_client)
    path = mailed_reset_path(app, mailbox)
    set_password(test_client, path)

    assert_link_refused(test_client.get(path))
    assert_link_refused(post_to_link(test_client, path, "another fine passphrase here"))
    assert password_is(user, NEW_PASSWORD)


def test_expired_reset_link_is_refused_and_changes_nothing(test_client, user):
    token = issue_token(user, EmailTokenPurpose.RESET)
    form_token = csrf(test_client, f"/reset-password/{token}")  # the form was open when the link expired
    expire_token(token)

    assert_link_refused(test_client.get(f"/reset-password/{token}"))
    assert_link_refused(test_client.post(f"/reset-password/{token}", data={"csrf_token": form_token, "password": NEW_PASSWORD}))
    assert password_is(user, DEFAULT_PASSWORD)


def test_reset_link_lives_one_hour(test_client, user):
    issue_token(user, EmailTokenPurpose.RESET)

    [row] = tokens_of(user, EmailTokenPurpose.RESET)

    assert row.expires_at - row.created_at <= timedelta(hours=1)
    assert row.expires_at > utcnow()


def test_new_reset_link_invalidates_the_previous_one(app, test_client, user, mailbox):
    first = issue_token(user, EmailTokenPurpose.RESET)

    request_reset(test_client)

    assert_link_refused(test_client.get(f"/reset-password/{first}"))
    assert test_client.get(mailed_reset_path(app, mailbox)).status_code == 200


@pytest.mark.parametrize("token", [UNKNOWN_RESET_TOKEN, *JUNK_TOKENS], ids=["unknown", *[t[:12] for t in JUNK_TOKENS]])
def test_unknown_garbage_or_oversized_reset_token_is_refused(test_client, user, token):
    issue_token(user, EmailTokenPurpose.RESET)

    assert_link_refused(test_client.get(f"/reset-password/{token}"))
    assert_link_refused(post_to_link(test_client, f"/reset-password/{token}"))
    assert password_is(user, DEFAULT_PASSWORD)


def test_verification_token_cannot_reset_a_password(test_client, user):
    token = issue_token(user, EmailTokenPurpose.VERIFY)

    assert_link_refused(test_client.get(f"/reset-password/{token}"))
    assert_link_refused(post_to_link(test_client, f"/reset-password/{token}"))
    assert password_is(user, DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        pytest.param("tangerine sky", "Use at least 15 characters (you have 13).", id="too-short"),
        pytest.param("1qaz2wsx3edc4rfv", "This password is on a list of commonly used passwords.", id="common"),
        pytest.param("Password1234567!", "with digits or symbols added", id="common-word-plus-digits"),
        pytest.param("lovelace harmonica tangerine", "(it contains “lovelace”)", id="email-local-part"),
        pytest.param("identity harmonica tangerine", "(it contains “identity”)", id="service-name"),
    ],
)
def test_weak_new_password_is_refused_and_the_link_stays_usable(test_client, user, password, reason):
    token = issue_token(user, EmailTokenPurpose.RESET)
    path = f"/reset-password/{token}"

    response = set_password(test_client, path, password)

    assert response.status_code == 400
    assert reason in text(response)
    assert password_is(user, DEFAULT_PASSWORD)
    assert tokens_of(user, EmailTokenPurpose.RESET)[0].used_at is None
    assert set_password(test_client, path).status_code == 303
    assert password_is(user, NEW_PASSWORD)


def test_reset_signs_out_every_session_of_the_account(app, test_client, user, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop, DEFAULT_PASSWORD).status_code == 303
    assert login(phone, DEFAULT_PASSWORD).status_code == 303
    laptop_cookie = auth_cookie(laptop)

    request_reset(test_client)
    set_password(test_client, mailed_reset_path(app, mailbox))

    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(client_with_cookie(app, laptop_cookie))
    assert all(s.revoked_at is not None for s in sessions_of(user))
    assert message("session_ended") in text(phone.get("/login"))
    assert message("session_ended") in text(laptop.get("/login"))


def test_reset_does_not_sign_in(app, test_client, user, mailbox):
    request_reset(test_client)

    response = set_password(test_client, mailed_reset_path(app, mailbox))

    assert auth_set_cookie(response) is None or is_cleared(auth_set_cookie(response))
    assert not is_signed_in(test_client)
    assert sessions_of(user) == []


def test_reset_from_a_signed_in_browser_signs_that_browser_out_too(app, test_client, user, mailbox):
    assert login(test_client, DEFAULT_PASSWORD).status_code == 303
    request_reset(app.test_client())

    response = set_password(test_client, mailed_reset_path(app, mailbox))

    assert is_cleared(auth_set_cookie(response))
    assert not is_signed_in(test_client)


def test_reset_clears_the_failure_counter_and_lock(app, test_client, create_user, mailbox):
    user = create_user(email=EMAIL, failed_login_count=9, locked_until=utcnow() + timedelta(minutes=30))
    request_reset(test_client)

    set_password(test_client, mailed_reset_path(app, mailbox))

    user = reload(user)
    assert user.failed_login_count == 0
    assert user.locked_until is None
    assert login(test_client, NEW_PASSWORD).status_code == 303


def test_reset_confirms_an_unverified_address(app, test_client, create_user, mailbox):
    user = create_user(email=EMAIL, verified=False)
    request_reset(test_client)

    set_password(test_client, mailed_reset_path(app, mailbox))

    assert reload(user).email_verified_at is not None
