"""PKCE (RFC 7636, OAuth 2.1 4.1.1): S256 only, required unless a confidential client was allowed to skip it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuthorizationCode, RefreshToken
from tests.integration.oauth.conftest import REDIRECT_URI, count_rows, params_of, pkce_pair, redirect_base


@pytest.fixture
def signed_in(auth, user):
    auth.login(user.email)
    return user


def assert_pkce_error_redirect(app, response, pending):
    assert response.status_code == 302
    assert redirect_base(response) == REDIRECT_URI
    params = params_of(response)
    assert params["error"] == "invalid_request"
    assert params["state"] == pending.params["state"] and params["iss"] == app.config["ISSUER"]
    assert "code" not in params
    assert count_rows(AuthorizationCode) == 0


def test_a_request_without_code_challenge_is_refused(app, rp, signed_in, create_oauth_client):
    for confidential in (True, False):
        client, _ = create_oauth_client(is_confidential=confidential)
        pending = rp.request(client, pkce=False)
        assert_pkce_error_redirect(app, rp.authorize(pending), pending)
        pending = rp.request(client, pkce=False, code_challenge_method="S256")
        assert_pkce_error_redirect(app, rp.authorize(pending), pending)


def test_a_challenge_method_other_than_s256_is_refused(app, rp, signed_in, create_oauth_client, subtests):
    """A missing method means plain (RFC 7636 4.3), which OAuth 2.1 forbids."""
    client, _ = create_oauth_client()
    for method in ["plain", "s256", "S512", "", None]:
        with subtests.test(method=method):
            pending = rp.request(client, code_challenge_method=method)
            assert_pkce_error_redirect(app, rp.authorize(pending), pending)


def test_plain_with_the_verifier_as_challenge_is_refused(app, rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client()
    verifier, _ = pkce_pair()
    pending = rp.request(client, code_challenge=verifier, code_challenge_method="plain")

    assert_pkce_error_redirect(app, rp.authorize(pending), pending)


def test_a_malformed_challenge_is_refused(app, rp, signed_in, create_oauth_client, subtests):
    client, _ = create_oauth_client()
    for challenge in ["short", "A" * 42, "A" * 129, "A" * 42 + "=", "A" * 42 + "+"]:
        with subtests.test(challenge=challenge):
            pending = rp.request(client, code_challenge=challenge)
            assert_pkce_error_redirect(app, rp.authorize(pending), pending)


@pytest.mark.parametrize("confidential", [True, False], ids=["confidential", "public"])
def test_s256_with_the_right_verifier_redeems(rp, user, create_oauth_client, confidential):
    client, secret = create_oauth_client(is_confidential=confidential)

    tokens = rp.tokens(client, secret, user)

    assert tokens["access_token"] and tokens["id_token"] and tokens["refresh_token"]
    row = db.session.scalar(select(AuthorizationCode))
    assert row.code_challenge_method == "S256" and row.used_at is not None


@pytest.mark.parametrize("confidential", [True, False], ids=["confidential", "public"])
def test_a_missing_wrong_or_malformed_verifier_is_refused_and_the_code_survives(
    rp, user, create_oauth_client, confidential, subtests
):
    client, secret = create_oauth_client(is_confidential=confidential, is_first_party=True)
    issued = rp.code(client, user)
    cases = {
        "missing": (None, "invalid_request"),
        "wrong": (pkce_pair()[0], "invalid_grant"),
        "short": ("short", "invalid_request"),
        "long": ("A" * 129, "invalid_request"),
        "bad-char": ("A" * 43 + " ", "invalid_request"),
        "its-own-challenge": (db.session.scalar(select(AuthorizationCode)).code_challenge, "invalid_grant"),
    }
    for name, (verifier, error) in cases.items():
        with subtests.test(name):
            response = rp.redeem(client, secret, issued, code_verifier=verifier)
            assert response.status_code == 400
            assert response.get_json()["error"] == error
            assert count_rows(RefreshToken) == 0

    assert rp.redeem(client, secret, issued).status_code == 200


def test_a_confidential_client_allowed_the_plain_code_flow_may_omit_pkce(rp, user, create_oauth_client):
    client, secret = create_oauth_client(allow_plain_code_flow=True)

    issued = rp.code(client, user, pkce=False)
    response = rp.redeem(client, secret, issued)

    assert response.status_code == 200
    assert response.get_json()["access_token"]


def test_without_a_challenge_a_verifier_at_the_token_endpoint_is_refused(rp, user, create_oauth_client):
    """RFC 9700 4.8.2: a verifier for a code that had no challenge is a downgrade attempt."""
    client, secret = create_oauth_client(allow_plain_code_flow=True)
    issued = rp.code(client, user, pkce=False)
    verifier, _ = pkce_pair()

    response = rp.redeem(client, secret, issued, code_verifier=verifier)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert count_rows(RefreshToken) == 0


def test_a_confidential_client_allowed_the_plain_flow_still_gets_pkce_checked_when_it_sends_it(rp, user, create_oauth_client):
    client, secret = create_oauth_client(allow_plain_code_flow=True)
    issued = rp.code(client, user)
    other, _ = pkce_pair()

    assert rp.redeem(client, secret, issued, code_verifier=other).get_json()["error"] == "invalid_grant"
    assert rp.redeem(client, secret, issued, code_verifier=None).get_json()["error"] == "invalid_request"
    assert rp.redeem(client, secret, issued).status_code == 200


def test_a_public_client_can_never_skip_pkce_even_with_the_flag(app, rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False, allow_plain_code_flow=True)
    pending = rp.request(client, pkce=False)

    assert_pkce_error_redirect(app, rp.authorize(pending), pending)


def test_a_plain_method_is_refused_even_for_a_client_allowed_the_plain_flow(app, rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(allow_plain_code_flow=True)
    verifier, _ = pkce_pair()
    pending = rp.request(client, code_challenge=verifier, code_challenge_method="plain")

    assert_pkce_error_redirect(app, rp.authorize(pending), pending)
