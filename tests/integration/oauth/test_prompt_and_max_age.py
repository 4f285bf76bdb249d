"""prompt, max_age and login_hint (OIDC Core 3.1.2.1, 3.1.2.6): sign-in and re-authentication on request.

OpenID conformance modules covered here: oidcc-prompt-login, oidcc-prompt-none-not-logged-in,
oidcc-prompt-none-logged-in, oidcc-max-age-1, oidcc-max-age-10000, oidcc-login-hint.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuthorizationCode, UserSession
from app.models.base import utcnow
from tests.conftest import csrf_from
from tests.integration.oauth.conftest import REDIRECT_URI, Issued, count_rows, params_of, redirect_base, verify_jwt

AUTH_COOKIE = "idp_session"


@pytest.fixture
def rp_client(create_oauth_client):
    return create_oauth_client()


def sessions_of(user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at)))


def age_session(user, seconds: int) -> UserSession:
    """Pretend the person proved who they are `seconds` ago."""
    row = [s for s in sessions_of(user) if s.revoked_at is None][-1]
    row.auth_time = utcnow() - timedelta(seconds=seconds)
    db.session.commit()
    return row


def login_args(response) -> dict[str, str]:
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def sign_in_again(rp, response, email: str):
    """Follow the sign-in redirect: load the form, submit it, land back on the authorize URL."""
    args = login_args(response)
    page = rp.http.get(response.headers["Location"])
    assert page.status_code == 200, "the sign-in form must show even when already signed in"
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": "correct horse battery staple"}
    data["next"] = args["next"]
    done = rp.http.post("/login", data=data)
    assert done.status_code == 303
    assert done.headers["Location"] == args["next"]
    return rp.http.get(done.headers["Location"])


def code_from(rp, response) -> str:
    if response.status_code == 200:
        response = rp.answer(response)
    return params_of(response)["code"]


def id_token_claims(rp, client, secret, code: str, verifier: str) -> dict:
    response = rp.redeem(client, secret, Issued(code, verifier, REDIRECT_URI))
    assert response.status_code == 200, response.get_json()
    return verify_jwt(rp.http, response.get_json()["id_token"], ["RS256"]).claims


def test_signed_out_request_goes_to_sign_in_and_comes_back(rp, user, rp_client):
    client, secret = rp_client
    pending = rp.request(client)

    response = rp.authorize(pending)

    args = login_args(response)
    assert "reauth" not in args
    assert args["next"].startswith("/oauth/authorize?")
    rp.auth.login(user.email, next_url=args["next"])
    page = rp.http.get(args["next"])
    assert page.status_code == 200  # the consent page for the same request
    code = code_from(rp, page)
    assert id_token_claims(rp, client, secret, code, pending.verifier)["sub"] == str(user.id)


def test_prompt_none_signed_out_redirects_with_login_required(app, rp, rp_client):
    client, _ = rp_client
    pending = rp.request(client, prompt="none")

    response = rp.authorize(pending)

    assert response.status_code == 302 and redirect_base(response) == REDIRECT_URI
    params = params_of(response)
    assert params["error"] == "login_required"
    assert params["state"] == pending.params["state"] and params["iss"] == app.config["ISSUER"]
    assert count_rows(AuthorizationCode) == 0


def test_prompt_none_signed_out_with_a_bad_redirect_uri_gets_the_page(rp, rp_client):
    client, _ = rp_client

    response = rp.authorize(rp.request(client, prompt="none", redirect_uri="https://evil.example/cb"))

    assert response.status_code == 400 and "Location" not in response.headers


def test_prompt_none_without_consent_redirects_with_consent_required(app, rp, user, rp_client):
    client, _ = rp_client
    rp.auth.login(user.email)
    pending = rp.request(client, prompt="none")

    response = rp.authorize(pending)

    params = params_of(response)
    assert params["error"] == "consent_required"
    assert params["state"] == pending.params["state"] and params["iss"] == app.config["ISSUER"]
    assert count_rows(AuthorizationCode) == 0


def test_prompt_none_with_consent_issues_a_code_without_any_page(rp, user, rp_client):
    client, secret = rp_client
    rp.code(client, user)

    pending = rp.request(client, prompt="none")
    response = rp.authorize(pending)

    assert response.status_code == 302
    assert id_token_claims(rp, client, secret, params_of(response)["code"], pending.verifier)["sub"] == str(user.id)


def test_prompt_none_with_max_age_exceeded_is_login_required(rp, user, rp_client):
    client, _ = rp_client
    rp.code(client, user)
    age_session(user, 600)

    response = rp.authorize(rp.request(client, prompt="none", max_age="60"))

    assert params_of(response)["error"] == "login_required"


def test_prompt_login_shows_the_sign_in_form_and_starts_a_new_session(rp, user, rp_client):
    client, secret = rp_client
    rp.code(client, user)
    old = age_session(user, 120)
    old_cookie = rp.http.get_cookie(AUTH_COOKIE).value
    pending = rp.request(client, prompt="login")

    response = rp.authorize(pending)

    args = login_args(response)
    assert args["reauth"] == "1"
    assert "prompt=login" not in args["next"]  # satisfied by this sign-in: no loop
    back = sign_in_again(rp, response, user.email)
    assert back.status_code == 302  # consent is remembered
    claims = id_token_claims(rp, client, secret, params_of(back)["code"], pending.verifier)
    sessions = sessions_of(user)
    new = sessions[-1]
    assert new.id != old.id and rp.http.get_cookie(AUTH_COOKIE).value != old_cookie
    assert next(s for s in sessions if s.id == old.id).revoked_at is not None
    assert claims["auth_time"] > int(old.auth_time.timestamp())
    assert claims["sid"] == new.id


@pytest.mark.parametrize("asked", [{"prompt": "login"}, {"max_age": "0"}])
def test_a_signed_out_person_signs_in_once_for_prompt_login_or_max_age(rp, user, rp_client, asked):
    """Signing in from signed out satisfies them too: kept in `next`, they sent the person back to sign in again."""
    client, _ = rp_client
    rp.code(client, user)  # consent remembered, so the next stop after sign-in is the code
    rp.http.delete_cookie(AUTH_COOKIE)

    response = rp.authorize(rp.request(client, **asked))

    assert not set(asked) & set(parse_qs(urlsplit(login_args(response)["next"]).query))
    back = sign_in_again(rp, response, user.email)
    assert back.status_code == 302 and "code" in params_of(back)


def test_prompt_login_keeps_other_prompt_values(rp, user, rp_client):
    client, _ = rp_client
    rp.code(client, user)

    response = rp.authorize(rp.request(client, prompt="login consent"))

    next_url = login_args(response)["next"]
    assert parse_qs(urlsplit(next_url).query)["prompt"] == ["consent"]
    assert sign_in_again(rp, response, user.email).status_code == 200  # the consent page, as asked


def test_max_age_exceeded_forces_a_fresh_sign_in(rp, user, rp_client):
    client, secret = rp_client
    rp.code(client, user)
    old = age_session(user, 3600)
    pending = rp.request(client, max_age="300")

    response = rp.authorize(pending)

    args = login_args(response)
    assert args["reauth"] == "1" and "max_age" not in args["next"]
    back = sign_in_again(rp, response, user.email)
    claims = id_token_claims(rp, client, secret, params_of(back)["code"], pending.verifier)
    assert claims["auth_time"] > int(old.auth_time.timestamp())
    assert utcnow().timestamp() - claims["auth_time"] < 60


def test_max_age_not_exceeded_issues_a_code_with_auth_time(rp, user, rp_client):
    client, secret = rp_client
    rp.code(client, user)
    session = age_session(user, 100)
    pending = rp.request(client, max_age="3600")

    response = rp.authorize(pending)

    assert response.status_code == 302 and redirect_base(response) == REDIRECT_URI
    claims = id_token_claims(rp, client, secret, params_of(response)["code"], pending.verifier)
    assert claims["auth_time"] == int(session.auth_time.timestamp())


def test_max_age_zero_always_asks_for_a_fresh_sign_in(rp, user, rp_client):
    client, _ = rp_client
    rp.code(client, user)

    response = rp.authorize(rp.request(client, max_age="0"))

    assert login_args(response)["reauth"] == "1"


def test_id_token_always_carries_auth_time_of_the_sign_in(rp, user, rp_client):
    client, secret = rp_client

    issued = rp.code(client, user)
    session = sessions_of(user)[-1]
    claims = id_token_claims(rp, client, secret, issued.code, issued.verifier)

    assert claims["auth_time"] == int(session.auth_time.timestamp())


def test_login_hint_prefills_the_email_field(rp, rp_client):
    client, _ = rp_client

    response = rp.authorize(rp.request(client, login_hint="ada@example.com"))

    assert login_args(response)["login_hint"] == "ada@example.com"
    html = rp.http.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="ada@example.com"' in html


def test_login_hint_is_escaped_and_capped(rp, rp_client):
    client, _ = rp_client

    response = rp.authorize(rp.request(client, login_hint='"><script>alert(1)</script>' + "a" * 400))

    assert len(login_args(response)["login_hint"]) <= 254
    html = rp.http.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)" not in html


def test_login_hint_never_signs_anyone_in(rp, user, rp_client):
    client, _ = rp_client

    response = rp.authorize(rp.request(client, login_hint=user.email))

    assert login_args(response)
    assert sessions_of(user) == []
    assert count_rows(AuthorizationCode) == 0
