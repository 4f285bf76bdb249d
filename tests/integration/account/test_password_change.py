"""The password page: the current password (or a fresh passkey sign-in), the policy, and everything that must end."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.account.password_views import CHANGED, LOCKED, WRONG_CURRENT
from app.extensions import db
from app.mfa.webauthn import relying_party
from app.models import AuditEvent, UserSession
from app.models.base import utcnow
from app.security import verify_password
from tests.conftest import DEFAULT_PASSWORD, AuthActions, audit_types, csrf_from
from tests.integration.auth.helpers import BAD_REQUEST_TEXT, is_signed_in, reload, sessions_of, text
from tests.integration.mfa.soft_authenticator import SoftAuthenticator
from tests.integration.mfa.test_webauthn import Browser, enrolled
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures used by name)
    RelyingParty,
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
)

EMAIL = "ada@example.com"
NEW_PASSWORD = "tangerine harmonica lighthouse velvet"


@pytest.fixture
def ada(create_user, auth):
    user = create_user(email=EMAIL)
    assert auth.login(EMAIL).status_code == 303
    return user


@pytest.fixture
def other_browser(app, ada) -> AuthActions:
    """The same person signed in on a second device."""
    other = AuthActions(app.test_client())
    assert other.login(EMAIL).status_code == 303
    return other


def change(client, current: str | None = DEFAULT_PASSWORD, new: str = NEW_PASSWORD, *, csrf: bool = True):
    page = client.get("/account/password")
    assert page.status_code == 200, page.status_code
    data = {"new_password": new}
    if current is not None:
        data["current_password"] = current
    if csrf:
        data["csrf_token"] = csrf_from(page.get_data(as_text=True))
    return client.post("/account/password", data=data)


def password_is(user, password: str) -> bool:
    return verify_password(password, reload(user).password_hash)[0]


def live_sessions(user) -> list[UserSession]:
    return [s for s in sessions_of(user) if s.revoked_at is None]


def event(event_type: str) -> AuditEvent:
    db.session.rollback()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)).one()


def test_the_password_page_needs_a_signed_in_person(test_client):
    response = test_client.get("/account/password")

    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_password_session_is_asked_for_the_current_password(ada, auth):
    page = text(auth.client.get("/account/password"))

    assert 'name="current_password"' in page and 'autocomplete="current-password"' in page
    assert 'name="new_password"' in page and 'autocomplete="new-password"' in page


def test_changing_the_password_ends_the_other_sessions_and_mails_a_notice(ada, auth, other_browser, mailbox):
    assert len(live_sessions(ada)) == 2

    response = change(auth.client)

    assert response.status_code == 303 and response.headers["Location"] == "/account/password"
    assert str(CHANGED) in text(auth.client.get("/account/password"))
    assert password_is(ada, NEW_PASSWORD) and not password_is(ada, DEFAULT_PASSWORD)
    [kept] = live_sessions(ada)
    assert is_signed_in(auth.client) and not is_signed_in(other_browser.client)
    assert event("account.password_changed").details == {"session_id": kept.id, "sessions_ended": 1, "app_grants_ended": 0}
    assert mailbox.wait_for(EMAIL, "Your password was changed")
    auth.logout()
    assert auth.login(EMAIL).status_code == 401
    assert auth.login(EMAIL, NEW_PASSWORD).status_code == 303


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failure(ada, auth, other_browser, mailbox):
    response = change(auth.client, current="not my password at all")

    assert response.status_code == 400 and str(WRONG_CURRENT) in text(response)
    assert password_is(ada, DEFAULT_PASSWORD)
    assert len(live_sessions(ada)) == 2 and is_signed_in(other_browser.client)
    assert reload(ada).failed_login_count == 1
    assert event("auth.login_failed").details == {"reason": "password"}
    assert "account.password_changed" not in audit_types(ada)
    assert not any("password" in mail.subject for mail in mailbox.to(EMAIL))


def test_repeated_wrong_passwords_lock_further_attempts_even_the_right_one(ada, auth, app):
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        change(auth.client, current="not my password at all")
    assert reload(ada).locked_until is not None

    response = change(auth.client)

    assert response.status_code == 400 and str(LOCKED) in text(response)
    assert password_is(ada, DEFAULT_PASSWORD)
    assert audit_types(ada).count("auth.locked") == 1


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("short pass", "Use at least 15 characters (you have 10)."),
        ("qwertyuiop12345", "This password is on a list of commonly used passwords."),
        ("ada example password long", "example"),  # a context word from the address
    ],
)
def test_the_new_password_meets_the_registration_policy(ada, auth, new, reason):
    response = change(auth.client, new=new)

    assert response.status_code == 400 and reason in text(response)
    assert 'aria-describedby="new_password-errors"' in text(response)
    assert password_is(ada, DEFAULT_PASSWORD) and "account.password_changed" not in audit_types(ada)


@pytest.mark.parametrize(
    ("field", "message"), [("current_password", "Enter your current password."), ("new_password", "Choose a new password.")]
)
def test_both_fields_are_required(ada, auth, field, message):
    page = auth.client.get("/account/password")
    data = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "current_password": DEFAULT_PASSWORD,
        "new_password": NEW_PASSWORD,
    }
    data[field] = ""

    response = auth.client.post("/account/password", data=data)

    assert response.status_code == 400 and message in text(response)
    assert password_is(ada, DEFAULT_PASSWORD) and reload(ada).failed_login_count == 0


def test_changing_needs_the_csrf_token(ada, auth, other_browser):
    response = change(auth.client, csrf=False)

    assert response.status_code == 400 and BAD_REQUEST_TEXT in text(response)
    assert password_is(ada, DEFAULT_PASSWORD) and len(live_sessions(ada)) == 2


def test_a_stale_sign_in_confirms_the_password_first_then_returns_here(ada, auth, app):
    for user_session in live_sessions(ada):
        user_session.auth_time = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 1)
    db.session.commit()
    page = auth.client.get("/account/password")
    token = csrf_from(auth.client.get("/account/").get_data(as_text=True))

    forced = auth.client.post(
        "/account/password", data={"csrf_token": token, "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert page.status_code == 302 and forced.status_code == 302
    location = forced.headers["Location"]
    assert location.startswith("/login?") and "reauth=1" in location
    assert parse_qs(urlsplit(location).query)["next"] == ["/account/password"]
    assert password_is(ada, DEFAULT_PASSWORD)
    login_page = auth.client.get(location)
    again = auth.client.post(
        "/login",
        data={
            "csrf_token": csrf_from(login_page.get_data(as_text=True)),
            "email": EMAIL,
            "password": DEFAULT_PASSWORD,
            "next": "/account/password",
        },
    )
    assert again.status_code == 303 and again.headers["Location"] == "/account/password"
    assert change(auth.client).status_code == 303


def test_apps_lose_the_tokens_issued_outside_this_session(app, ada, auth, other_browser, first_party):
    client, secret = first_party
    elsewhere = RelyingParty(app, other_browser.client, other_browser).tokens(client, secret)
    here = RelyingParty(app, auth.client, auth).tokens(client, secret)
    token_endpoint = RelyingParty(app, app.test_client(), None)

    assert change(auth.client).status_code == 303

    refused = token_endpoint.refresh(client, secret, elsewhere["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    introspected = token_endpoint.introspect(client, secret, elsewhere["access_token"])
    assert introspected.status_code == 200 and introspected.get_json() == {"active": False}
    assert token_endpoint.refresh(client, secret, here["refresh_token"]).status_code == 200
    assert event("account.password_changed").details["app_grants_ended"] == 1


def test_a_passkey_session_changes_the_password_without_the_current_one(app, ada, other_browser):
    person = Browser(app.test_client(), SoftAuthenticator(origin=relying_party().origin))
    enrolled(person, ada, passkey=True)
    assert person.passkey_sign_in().status_code == 200
    [passkey_session] = [s for s in live_sessions(ada) if "pwd" not in s.amr]
    assert "mfa" in passkey_session.amr

    page = person.client.get("/account/password")
    assert page.status_code == 200
    assert 'name="current_password"' not in text(page) and 'id="passkey-note"' in text(page)
    response = person.client.post(
        "/account/password", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 303
    assert password_is(ada, NEW_PASSWORD)
    assert [s.id for s in live_sessions(ada)] == [passkey_session.id]
    assert not is_signed_in(other_browser.client) and is_signed_in(person.client)


def test_a_password_session_that_stepped_up_still_gives_the_current_password(app, ada, auth):
    """A second factor proves the person, but the password sign-in shows its knowledge claim too: ask again."""
    from tests.integration.mfa.conftest import add_totp

    totp = add_totp(app, ada)
    auth.logout()
    auth.login(EMAIL)
    answer = {"csrf_token": auth.csrf("/mfa/challenge"), "totp_code": totp.now()}
    assert auth.client.post("/mfa/challenge/totp", data=answer).status_code == 303

    response = change(auth.client, current=None)

    assert response.status_code == 400 and "Enter your current password." in text(response)
    assert password_is(ada, DEFAULT_PASSWORD)
