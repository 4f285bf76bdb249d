"""Sign-in: the session cookie, what is stored, identical failures, disabled and unverified accounts, audit."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from app.extensions import db
from app.models import AuditEvent, User, UserSession
from app.web.messages import message
from tests.conftest import DEFAULT_PASSWORD, audit_types, csrf_from
from tests.integration.auth.helpers import (
    AUTH_COOKIE,
    auth_cookie,
    auth_set_cookie,
    client_with_cookie,
    cookie_attributes,
    count,
    csrf,
    is_signed_in,
    post_form,
    reload,
    sessions_of,
    text,
    without_csrf,
)

EMAIL = "ada@example.com"


def login(client, email: str = EMAIL, password: str = DEFAULT_PASSWORD, token_from: str = "/login"):
    return post_form(client, "/login", {"email": email, "password": password}, token_from=token_from)


def test_login_page_shows_the_form(test_client):
    response = test_client.get("/login")

    assert response.status_code == 200
    page = text(response)
    assert 'name="email"' in page and 'name="password"' in page and 'name="csrf_token"' in page
    assert 'autocomplete="current-password"' in page


def test_successful_login_redirects_303_to_account(test_client, create_user):
    create_user(email=EMAIL)

    response = login(test_client)

    assert response.status_code == 303  # never 307: the browser must not re-post the password
    assert response.headers["Location"] == "/account/"
    account = test_client.get("/account/")
    assert account.status_code == 200
    assert EMAIL in text(account)


def test_auth_cookie_is_httponly_samesite_lax_session_cookie(test_client, create_user):
    create_user(email=EMAIL)

    set_cookie = auth_set_cookie(login(test_client))

    assert set_cookie is not None
    attributes = cookie_attributes(set_cookie)
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    # No lifetime on the cookie: the server-side row's timeouts decide.
    assert "expires" not in attributes and "max-age" not in attributes


def test_auth_cookie_gets_host_prefix_and_secure_on_an_https_issuer(app_factory, create_user, monkeypatch):
    monkeypatch.setenv("IDP_ISSUER", "https://idp.example.test")
    https_app = app_factory()
    client = https_app.test_client()
    with https_app.app_context():
        create_user(email=EMAIL)

    base = "https://idp.example.test"
    token = csrf_from(client.get("/login", base_url=base).get_data(as_text=True))
    response = client.post(
        "/login",
        base_url=base,
        headers={"Referer": base + "/login"},  # Flask-WTF checks the referrer on https
        data={"csrf_token": token, "email": EMAIL, "password": DEFAULT_PASSWORD},
    )

    assert response.status_code == 303
    [set_cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-idp_session=")]
    attributes = cookie_attributes(set_cookie)
    assert "secure" in attributes and "httponly" in attributes
    assert attributes["path"] == "/" and "domain" not in attributes


def test_cookie_value_is_random_and_stored_only_as_its_sha256_digest(test_client, create_user):
    user = create_user(email=EMAIL)

    login(test_client)

    value = auth_cookie(test_client)
    assert value is not None and len(value) >= 43  # 32 random bytes, URL-safe base64
    [user_session] = sessions_of(user)
    assert user_session.token_digest == hashlib.sha256(value.encode()).hexdigest()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sql(f'SELECT * FROM "{table.name}"')):
            assert value not in repr(tuple(row)), f"cookie value stored in {table.name}"


def test_every_sign_in_issues_a_new_cookie_value(test_client, create_user):
    user = create_user(email=EMAIL)

    login(test_client)
    first = auth_cookie(test_client)
    test_client.delete_cookie(AUTH_COOKIE)
    login(test_client)
    second = auth_cookie(test_client)

    assert first and second and first != second
    assert len({s.token_digest for s in sessions_of(user)}) == 2


def test_cookie_planted_before_sign_in_is_replaced_and_never_authenticates(app, test_client, create_user):
    create_user(email=EMAIL)
    test_client.set_cookie(AUTH_COOKIE, "attacker-chosen-value-" + "a" * 30)

    login(test_client)

    assert auth_cookie(test_client) != "attacker-chosen-value-" + "a" * 30
    assert not is_signed_in(client_with_cookie(app, "attacker-chosen-value-" + "a" * 30))


def test_signing_in_again_ends_the_session_the_browser_held(app, test_client, create_user):
    user = create_user(email=EMAIL)
    login(test_client)
    old_value = auth_cookie(test_client)

    response = login(test_client, token_from="/account/")  # a sign-in form posted while already signed in

    assert response.status_code == 303
    assert auth_cookie(test_client) != old_value
    assert is_signed_in(test_client)
    assert not is_signed_in(client_with_cookie(app, old_value))
    assert [s.revoked_at is not None for s in sessions_of(user)] == [True, False]


def _failure_page(response, email: str) -> str:
    return without_csrf(text(response)).replace(email, "EMAIL")


def test_wrong_password_and_unknown_email_get_the_identical_401_page(test_client, create_user):
    create_user(email=EMAIL)

    wrong_password = login(test_client, password="not the right password at all")
    unknown_email = login(test_client, email="nobody@example.com")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert message("login_failed") in text(wrong_password)
    assert _failure_page(wrong_password, EMAIL) == _failure_page(unknown_email, "nobody@example.com")


def test_failed_login_sets_no_cookie_starts_no_session_and_does_not_echo_the_password(test_client, create_user):
    user = create_user(email=EMAIL)

    response = login(test_client, password="not the right password at all")

    assert auth_set_cookie(response) is None
    assert sessions_of(user) == []
    assert "not the right password at all" not in text(response)
    assert f'value="{EMAIL}"' in text(response)  # the address is kept so the person can retry


def test_disabled_user_cannot_sign_in_with_the_right_password(test_client, create_user):
    user = create_user(email=EMAIL, is_disabled=True)

    response = login(test_client)

    assert response.status_code == 401
    assert message("login_failed") in text(response)
    assert auth_set_cookie(response) is None
    assert sessions_of(user) == []
    assert audit_types(user) == ["auth.login_failed"]


def test_email_is_matched_case_insensitively(test_client, create_user):
    create_user(email=EMAIL)

    assert login(test_client, email="ADA@Example.COM").status_code == 303


def test_unverified_user_can_sign_in_and_sees_the_banner(test_client, create_user):
    create_user(email=EMAIL, verified=False)

    assert login(test_client).status_code == 303

    account = test_client.get("/account/")
    assert account.status_code == 200
    assert 'id="unverified-banner"' in text(account)


def test_verified_user_sees_no_banner(test_client, create_user):
    create_user(email=EMAIL)

    login(test_client)

    assert 'id="unverified-banner"' not in text(test_client.get("/account/"))


def test_signed_in_visitor_to_the_login_page_is_sent_to_account(test_client, create_user):
    create_user(email=EMAIL)
    login(test_client)

    response = test_client.get("/login")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"


def test_home_sends_visitors_to_login_and_signed_in_people_to_account(test_client, create_user):
    create_user(email=EMAIL)
    assert test_client.get("/").headers["Location"] == "/login"

    login(test_client)

    assert test_client.get("/").headers["Location"] == "/account/"


def _events(user: User | None = None) -> list[AuditEvent]:
    db.session.rollback()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if user is not None:
        query = query.where(AuditEvent.subject_user_id == user.id)
    return list(db.session.scalars(query))


def test_successful_login_is_audited_with_its_session(test_client, create_user):
    user = create_user(email=EMAIL)

    login(test_client)

    [event] = _events(user)
    [user_session] = sessions_of(user)
    assert event.event_type == "auth.login"
    assert event.details == {"session_id": user_session.id, "amr": ["pwd"]}
    assert event.ip_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("email", "reason"),
    [("ada@example.com", "password"), ("nobody@example.com", "unknown_account")],
    ids=["wrong-password", "unknown-email"],
)
def test_failed_login_is_audited_without_the_password(test_client, create_user, email, reason):
    create_user(email=EMAIL)

    login(test_client, email=email, password="not the right password at all")

    [event] = _events()
    assert event.event_type == "auth.login_failed"
    assert event.details["reason"] == reason
    assert "not the right password" not in repr(event.details)
    assert count(AuditEvent, AuditEvent.event_type == "auth.login") == 0


def test_successful_login_resets_the_failure_counter(test_client, create_user):
    user = create_user(email=EMAIL, failed_login_count=3)

    login(test_client)

    assert reload(user).failed_login_count == 0


def test_login_page_is_not_cached(test_client):
    assert test_client.get("/login").headers["Cache-Control"] == "no-store"


def test_session_row_records_how_and_when_the_person_signed_in(test_client, create_user):
    user = create_user(email=EMAIL)

    login(test_client)

    [user_session] = sessions_of(user)
    assert user_session.amr == ["pwd"]
    assert user_session.revoked_at is None
    assert user_session.auth_time == user_session.created_at == user_session.last_seen_at
    assert count(UserSession) == 1


def test_csrf_token_is_renewed_at_sign_in(test_client, create_user):
    create_user(email=EMAIL)
    before = csrf(test_client)

    login(test_client)
    response = test_client.post("/logout", data={"csrf_token": before})

    # The browser state is cleared at sign-in; a token read before it no longer works.
    assert response.status_code == 400
    assert is_signed_in(test_client)


def test_email_typed_with_surrounding_spaces_still_signs_in(test_client, create_user):
    create_user(email="spaces@example.com")
    response = post_form(test_client, "/login", {"email": "  Spaces@Example.com ", "password": DEFAULT_PASSWORD})
    assert response.status_code == 303
    assert is_signed_in(test_client)
