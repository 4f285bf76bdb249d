"""Email verification: GET only shows a button, POST confirms once, and stale or foreign links fail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import EmailTokenPurpose, User
from app.web.messages import message
from tests.conftest import audit_types
from tests.integration.auth.helpers import (
    JUNK_TOKENS,
    UNKNOWN_VERIFY_TOKEN,
    csrf,
    expire_token,
    issue_token,
    path_of,
    reload,
    text,
    tokens_of,
)

EMAIL = "ada@example.com"


@pytest.fixture
def unverified(create_user):
    return create_user(email=EMAIL, verified=False)


def confirm(client, token: str, token_from: str = "/login"):
    """Press the button on the confirmation page."""
    return client.post(f"/verify-email/{token}", data={"csrf_token": csrf(client, token_from)})


def assert_link_refused(response) -> None:
    assert response.status_code == 400
    assert message("verify_invalid") in text(response)


def test_verification_link_from_the_mail_shows_a_confirm_button_and_does_not_verify(app, test_client, mailbox):
    data = {"csrf_token": csrf(test_client, "/register"), "email": EMAIL, "password": "tangerine harmonica lighthouse velvet"}
    assert test_client.post("/register", data=data).status_code == 200
    link = mailbox.wait_for(EMAIL, "Confirm your email address").link("/verify-email/")
    path = path_of(link, app.config["ISSUER"])

    response = test_client.get(path)  # what a mail scanner prefetching the link does

    assert response.status_code == 200
    page = text(response)
    assert "Confirm my email address" in page
    assert f'action="{path}"' in page and 'method="post"' in page
    [user] = db.session.scalars(select(User))
    assert user.email_verified_at is None
    assert [row.used_at for row in tokens_of(user, EmailTokenPurpose.VERIFY)] == [None]


def test_confirming_verifies_the_address_and_uses_up_the_link(test_client, unverified):
    token = issue_token(unverified, EmailTokenPurpose.VERIFY)

    response = confirm(test_client, token)

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert reload(unverified).email_verified_at is not None
    [row] = tokens_of(unverified, EmailTokenPurpose.VERIFY)
    assert row.used_at is not None
    assert audit_types(unverified) == ["auth.email_verified"]
    assert message("verify_success") in text(test_client.get("/login"))


def test_signed_in_person_confirming_lands_on_account_without_the_banner(test_client, unverified, auth):
    auth.login(EMAIL)
    assert 'id="unverified-banner"' in text(test_client.get("/account/"))
    token = issue_token(unverified, EmailTokenPurpose.VERIFY)

    response = test_client.post(f"/verify-email/{token}", data={"csrf_token": csrf(test_client, "/account/")})

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"
    account = text(test_client.get("/account/"))
    assert 'id="unverified-banner"' not in account
    assert message("verify_success") in account


def test_link_works_only_once(test_client, unverified):
    token = issue_token(unverified, EmailTokenPurpose.VERIFY)
    assert confirm(test_client, token).status_code == 303

    assert_link_refused(confirm(test_client, token))
    assert_link_refused(test_client.get(f"/verify-email/{token}"))
    assert audit_types(unverified) == ["auth.email_verified"]


def test_expired_link_is_refused_and_verifies_nothing(test_client, unverified):
    token = issue_token(unverified, EmailTokenPurpose.VERIFY)
    expire_token(token)

    assert_link_refused(test_client.get(f"/verify-email/{token}"))
    assert_link_refused(confirm(test_client, token))
    assert reload(unverified).email_verified_at is None


@pytest.mark.parametrize("token", [UNKNOWN_VERIFY_TOKEN, *JUNK_TOKENS], ids=["unknown", *[t[:12] for t in JUNK_TOKENS]])
def test_unknown_garbage_or_oversized_token_is_refused(test_client, unverified, token):
    issue_token(unverified, EmailTokenPurpose.VERIFY)

    assert_link_refused(test_client.get(f"/verify-email/{token}"))
    assert_link_refused(confirm(test_client, token))
    assert reload(unverified).email_verified_at is None


def test_password_reset_token_cannot_verify_an_address(test_client, unverified):
    token = issue_token(unverified, EmailTokenPurpose.RESET)

    assert_link_refused(test_client.get(f"/verify-email/{token}"))
    assert_link_refused(confirm(test_client, token))
    assert reload(unverified).email_verified_at is None
    assert tokens_of(unverified, EmailTokenPurpose.RESET)[0].used_at is None


def test_link_sent_to_a_previous_address_no_longer_verifies(test_client, unverified):
    token = issue_token(unverified, EmailTokenPurpose.VERIFY)
    unverified.email = "ada.new@example.com"
    db.session.commit()

    assert_link_refused(confirm(test_client, token))
    assert reload(unverified).email_verified_at is None


def test_resend_requires_sign_in_and_sends_the_person_to_sign_in_without_a_next(test_client, unverified, mailbox):
    response = test_client.post("/verify-email/resend", data={"csrf_token": csrf(test_client)})

    # 303 to plain /login: a next= back to this POST-only URL would end on an error page.
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert tokens_of(unverified, EmailTokenPurpose.VERIFY) == []
    assert mailbox.messages == []


def test_resend_mails_a_new_link_and_kills_the_old_one(app, test_client, unverified, auth, mailbox):
    old_token = issue_token(unverified, EmailTokenPurpose.VERIFY)
    auth.login(EMAIL)

    response = test_client.post("/verify-email/resend", data={"csrf_token": csrf(test_client, "/account/")})

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"
    assert message("verify_sent") in text(test_client.get("/account/"))
    new_path = path_of(mailbox.wait_for(EMAIL, "Confirm your email address").link("/verify-email/"), app.config["ISSUER"])
    assert new_path != f"/verify-email/{old_token}"
    assert_link_refused(test_client.get(f"/verify-email/{old_token}"))
    assert_link_refused(confirm(test_client, old_token, token_from="/account/"))
    assert test_client.get(new_path).status_code == 200
    assert test_client.post(new_path, data={"csrf_token": csrf(test_client, "/account/")}).status_code == 303
    assert reload(unverified).email_verified_at is not None


def test_resend_for_a_verified_address_sends_nothing(test_client, create_user, auth, mailbox):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)

    response = test_client.post("/verify-email/resend", data={"csrf_token": csrf(test_client, "/account/")})

    assert response.status_code == 303
    assert tokens_of(user, EmailTokenPurpose.VERIFY) == []
    assert mailbox.messages == []
