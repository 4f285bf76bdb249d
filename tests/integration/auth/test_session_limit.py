"""IDP_MAX_SESSIONS_PER_USER: a sign-in past the limit ends the person's oldest sessions and says so."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.models.base import utcnow
from tests.conftest import DEFAULT_PASSWORD, csrf_from
from tests.integration.auth.helpers import is_signed_in, sessions_of
from tests.integration.mfa.conftest import add_totp

EMAIL = "ada@example.com"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def limited(app):
    app.config["MAX_SESSIONS_PER_USER"] = 2  # read on each sign-in
    return app


def browser(app, user_agent: str, **environ: str):
    """A test client that sends this User-Agent (and any other WSGI environ, e.g. REMOTE_ADDR) on every request."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, **environ)
    return client


def sign_in(client):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "email": EMAIL, "password": DEFAULT_PASSWORD})
    assert response.status_code == 303
    return response


def age_sessions(user) -> None:
    """Oldest first, a minute apart: created_at decides which one goes."""
    for index, row in enumerate(sessions_of(user)):
        row.created_at = utcnow() - timedelta(minutes=10 - index)
    db.session.commit()


def test_the_third_sign_in_ends_the_oldest_session_and_says_which(limited, create_user):
    user = create_user(email=EMAIL)
    firefox, chrome, safari = browser(limited, FIREFOX), browser(limited, CHROME), browser(limited, SAFARI)
    sign_in(firefox)
    sign_in(chrome)
    age_sessions(user)

    response = sign_in(safari)

    page = html.unescape(safari.get(response.headers["Location"]).get_data(as_text=True))
    assert "You were signed out of your oldest session, on Firefox 128 on Windows 10" in page
    assert "at most 2 devices at a time" in page
    assert not is_signed_in(firefox)
    assert is_signed_in(chrome) and is_signed_in(safari)
    ended = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "account.session_ended")).all()
    assert [(event.details["reason"], event.details["limit"]) for event in ended] == [("session_limit", 2)]


def test_within_the_limit_nothing_ends(limited, create_user):
    create_user(email=EMAIL)
    first, second = browser(limited, FIREFOX), browser(limited, CHROME)
    sign_in(first)

    response = sign_in(second)

    assert "signed out of your oldest session" not in second.get(response.headers["Location"]).get_data(as_text=True)
    assert is_signed_in(first) and is_signed_in(second)


def test_no_limit_by_default(app, create_user):
    create_user(email=EMAIL)
    clients = [app.test_client() for _ in range(4)]
    for client in clients:
        sign_in(client)

    assert all(is_signed_in(client) for client in clients)


def test_the_limit_counts_when_the_second_factor_is_passed_not_at_the_password(limited, create_user):
    user = create_user(email=EMAIL)
    totp = add_totp(limited, user)
    firefox, chrome, safari = browser(limited, FIREFOX), browser(limited, CHROME), browser(limited, SAFARI)
    for client, step in ((firefox, -1), (chrome, 0)):  # each TOTP step works once; ±1 step is accepted
        sign_in(client)
        page = client.get("/mfa/challenge").get_data(as_text=True)
        code = totp.at(utcnow() + timedelta(seconds=30 * step))
        client.post("/mfa/challenge/totp", data={"csrf_token": csrf_from(page), "totp_code": code})
    assert is_signed_in(firefox) and is_signed_in(chrome)
    age_sessions(user)

    sign_in(safari)  # the password alone: a pending session ends nothing

    assert is_signed_in(firefox) and is_signed_in(chrome)
    page = safari.get("/mfa/challenge").get_data(as_text=True)
    safari.post(
        "/mfa/challenge/totp", data={"csrf_token": csrf_from(page), "totp_code": totp.at(utcnow() + timedelta(seconds=30))}
    )
    assert not is_signed_in(firefox)
    assert is_signed_in(chrome) and is_signed_in(safari)
