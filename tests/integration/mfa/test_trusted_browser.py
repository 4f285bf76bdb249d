""" "Trust this browser": a passed challenge with the box ticked lets that browser's next password sign-in skip
the challenge, with amr ["pwd"] only, so every step-up (sensitive change, the console) still asks."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.protocol import ACR_MFA
from app.extensions import db
from app.models import TrustedBrowser
from app.models.base import utcnow
from app.security import token_digest
from tests.conftest import AuthActions, audit_types, csrf_from
from tests.integration.account.test_password_change import change
from tests.integration.auth.helpers import cookie_attributes, count, sessions_of
from tests.integration.mfa.conftest import add_totp
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures used by name)
    RelyingParty,
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
    rp,
)

EMAIL = "ada@example.com"
TRUSTED_COOKIE = "idp_trusted"


def pass_challenge(client, code: str, *, trust: bool):
    page = client.get("/mfa/challenge").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "totp_code": code}
    if trust:
        data["trust_browser"] = "1"
    response = client.post("/mfa/challenge/totp", data=data)
    assert response.status_code == 303 and not response.headers["Location"].endswith("/mfa/challenge")
    return response


def next_code(totp) -> str:
    """The next time step's code: inside the drift window, and newer than one the fixture just used.

    (A code from the step before can fall out of the window if the clock ticks on during the request.)
    """
    return totp.at(time.time() + 30)


def goes_to_challenge(response) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"].endswith("/mfa/challenge")


@pytest.fixture
def ada(app, create_user):
    user = create_user(email=EMAIL)
    return user, add_totp(app, user)


@pytest.fixture
def trusted(app, ada, auth):
    """Ada signed in with her password and a code, trusting this browser; then signed out."""
    user, totp = ada
    assert goes_to_challenge(auth.login(EMAIL))
    response = pass_challenge(auth.client, totp.now(), trust=True)
    auth.logout()
    return response


def test_ticking_trust_gives_a_cookie_and_stores_only_its_digest(app, ada, trusted, auth):
    user, _ = ada
    [set_cookie] = [h for h in trusted.headers.getlist("Set-Cookie") if h.startswith(f"{TRUSTED_COOKIE}=")]
    attributes = cookie_attributes(set_cookie)
    assert int(attributes["max-age"]) == app.config["TRUSTED_BROWSER_SECONDS"]
    assert "httponly" in attributes and attributes["samesite"] == "Lax"
    [row] = db.session.scalars(select(TrustedBrowser)).all()
    value = auth.client.get_cookie(TRUSTED_COOKIE).value
    assert row.token_digest == token_digest(value) and value not in row.token_digest
    assert row.expires_at - row.created_at == timedelta(seconds=app.config["TRUSTED_BROWSER_SECONDS"])
    assert "mfa.browser_trusted" in audit_types(user)


def test_the_trusted_browser_skips_the_challenge_and_proves_no_factor(ada, trusted, auth):
    user, _ = ada

    response = auth.login(EMAIL)

    assert response.status_code == 303 and response.headers["Location"] == "/account/"
    newest = sessions_of(user)[-1]
    assert newest.pending is None and newest.amr == ["pwd"]
    assert db.session.scalar(select(TrustedBrowser.last_used_at)) is not None


def test_without_the_tick_the_next_sign_in_is_challenged(ada, auth):
    user, totp = ada
    auth.login(EMAIL)
    pass_challenge(auth.client, totp.now(), trust=False)
    auth.logout()

    assert auth.client.get_cookie(TRUSTED_COOKIE) is None
    assert goes_to_challenge(auth.login(EMAIL))


def test_another_persons_trusted_cookie_does_not_skip_their_challenge(app, ada, trusted, auth, create_user):
    bob = create_user(email="bob@example.com")
    add_totp(app, bob)

    assert goes_to_challenge(auth.login("bob@example.com"))  # this browser is trusted by Ada, not by Bob


def test_an_expired_trust_is_challenged(ada, trusted, auth):
    row = db.session.scalar(select(TrustedBrowser))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert goes_to_challenge(auth.login(EMAIL))


def test_a_sensitive_change_still_asks_for_the_factor(ada, trusted, auth):
    auth.login(EMAIL)
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))

    assert goes_to_challenge(auth.client.post("/mfa/totp/remove", data={"csrf_token": token}))


def test_the_console_still_asks_for_the_factor(app, create_user):
    admin = create_user(email="root@example.com", is_admin=True)
    totp = add_totp(app, admin)
    auth = AuthActions(app.test_client())
    auth.login("root@example.com")
    pass_challenge(auth.client, totp.now(), trust=True)
    auth.logout()

    assert auth.login("root@example.com").headers["Location"] == "/account/"  # the trust skipped the challenge
    assert goes_to_challenge(auth.client.get("/admin/"))


def test_forget_all_is_confirmed_then_brings_the_challenge_back(ada, trusted, auth):
    user, _ = ada
    auth.login(EMAIL)
    assert "1 trusted browser skip" in auth.client.get("/mfa/").get_data(as_text=True)
    page = auth.client.get("/mfa/trusted-browsers/forget")
    assert page.status_code == 200 and count(TrustedBrowser) == 1  # asking changes nothing

    response = auth.client.post("/mfa/trusted-browsers/forget", data={"csrf_token": csrf_from(page.get_data(as_text=True))})

    assert response.status_code == 303 and count(TrustedBrowser) == 0
    assert "mfa.trusted_browsers_forgotten" in audit_types(user)
    auth.logout()
    assert goes_to_challenge(auth.login(EMAIL))


def test_forget_all_needs_the_csrf_token(ada, trusted, auth):
    auth.login(EMAIL)

    assert auth.client.post("/mfa/trusted-browsers/forget").status_code == 400
    assert count(TrustedBrowser) == 1


def test_a_password_change_forgets_every_trusted_browser(ada, trusted, auth):
    _, totp = ada
    auth.login(EMAIL)
    assert goes_to_challenge(auth.client.get("/account/password"))  # a sensitive change: the factor, now
    pass_challenge(auth.client, next_code(totp), trust=False)

    assert change(auth.client).status_code == 303

    assert count(TrustedBrowser) == 0


def test_an_app_asking_for_mfa_still_gets_the_challenge(ada, trusted, auth, rp, first_party):
    """acr_values=urn:idp:acr:mfa: the trusted sign-in proved no factor, so the authorization steps up."""
    auth.login(EMAIL)

    response = rp.authorize(rp.request(first_party[0], acr_values=ACR_MFA))

    assert goes_to_challenge(response)


def test_zero_seconds_turns_trust_off_the_box_is_not_offered_and_a_ticked_post_trusts_nothing(app_factory, create_user):
    app = app_factory(TRUSTED_BROWSER_SECONDS=0)
    with app.app_context():
        user = create_user(email=EMAIL)
        totp = add_totp(app, user)
        auth = AuthActions(app.test_client())
        assert goes_to_challenge(auth.login(EMAIL))
        assert 'name="trust_browser"' not in auth.client.get("/mfa/challenge").get_data(as_text=True)
        pass_challenge(auth.client, totp.now(), trust=True)
        assert auth.client.get_cookie(TRUSTED_COOKIE) is None
        assert db.session.scalars(select(TrustedBrowser)).all() == []
        assert "mfa.browser_trusted" not in audit_types(user)
