"""Where sign-in sends a person: a local path from next=, otherwise the account page; never off-site."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import DEFAULT_PASSWORD
from tests.integration.auth.helpers import csrf, post_form, text

EMAIL = "ada@example.com"

LOCAL_TARGETS = [
    "/account/?x=1",
    "/account/",
    "/oauth/authorize?client_id=app&scope=openid%20email&state=a%2Fb",
    "/account/#section",
]

OFF_SITE_TARGETS = [
    "https://evil.com",
    "http://evil.com/account/",
    "HTTPS://EVIL.COM/",
    "http://localhost/account/",  # absolute, even to this host: only relative paths are allowed
    "//evil.com",
    "///evil.com",
    "//evil.com/account/",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "https:evil.com",
    "https:/evil.com",
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    "\t//evil.com",
    " //evil.com",
    "/account/\r\nSet-Cookie: x=1",
    "evil.com",
    "account/",
    "/" + "a" * 2048,
]


@pytest.fixture
def user(create_user):
    return create_user(email=EMAIL)


def login_with_next_field(client, target: str):
    return post_form(client, "/login", {"email": EMAIL, "password": DEFAULT_PASSWORD, "next": target})


def login_with_next_query(client, target: str):
    data = {"csrf_token": csrf(client), "email": EMAIL, "password": DEFAULT_PASSWORD}
    return client.post(f"/login?next={quote(target, safe='')}", data=data)


@pytest.mark.parametrize("target", LOCAL_TARGETS)
def test_local_path_in_next_is_honoured(test_client, user, target):
    response = login_with_next_field(test_client, target)

    assert response.status_code == 303
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", OFF_SITE_TARGETS, ids=repr)
def test_off_site_or_malformed_next_in_the_form_falls_back_to_account(test_client, user, target):
    response = login_with_next_field(test_client, target)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"


@pytest.mark.parametrize("target", OFF_SITE_TARGETS, ids=repr)
def test_off_site_or_malformed_next_in_the_query_falls_back_to_account(test_client, user, target):
    response = login_with_next_query(test_client, target)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"


def test_local_next_in_the_query_is_honoured(test_client, user):
    response = login_with_next_query(test_client, "/account/?x=1")

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/?x=1"


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com"])
def test_signed_in_visitor_to_login_is_never_sent_off_site(test_client, user, auth, target):
    auth.login(EMAIL)

    response = test_client.get(f"/login?next={quote(target, safe='')}")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"


def test_signed_in_visitor_to_login_follows_a_local_next(test_client, user, auth):
    auth.login(EMAIL)

    response = test_client.get("/login?next=%2Faccount%2F%3Fx%3D1")

    assert response.headers["Location"] == "/account/?x=1"


def test_protected_page_round_trip_returns_to_the_requested_page(test_client, user):
    bounced = test_client.get("/account/?x=1")
    assert bounced.status_code == 302
    login_page = test_client.get(bounced.headers["Location"])
    assert 'name="next" type="hidden" value="/account/?x=1"' in text(login_page)

    response = test_client.post(
        "/login", data={"csrf_token": csrf(test_client), "email": EMAIL, "password": DEFAULT_PASSWORD, "next": "/account/?x=1"}
    )

    assert response.headers["Location"] == "/account/?x=1"


def test_failed_login_keeps_next_but_does_not_redirect(test_client, user):
    response = post_form(test_client, "/login", {"email": EMAIL, "password": "not the right password", "next": "/account/?x=1"})

    assert response.status_code == 401
    assert "Location" not in response.headers
    assert 'value="/account/?x=1"' in text(response)


def test_next_is_escaped_in_the_login_page(test_client):
    response = test_client.get("/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")

    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
