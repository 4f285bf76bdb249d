"""DPoP (RFC 9449) at the token endpoint: every grant binds to the proof's key; bound codes and refresh tokens."""

from __future__ import annotations

import os
import re

import pytest

from app.core.protocol import DEVICE_CODE
from app.extensions import db
from app.models import RefreshToken
from app.security import token_digest
from tests.integration.oauth.conftest import verify_jwt
from tests.integration.oauth.dpop_helpers import DpopKey
from tests.integration.oauth.test_device_flow import answer, started


def token_request(rp, client, secret, data: dict, *proofs: str):
    """POST /oauth/token with the client's authentication and one DPoP header per proof."""
    kwargs = rp.client_auth(client, secret)
    kwargs["data"] = {**kwargs["data"], **data}
    headers = [("DPoP", proof) for proof in proofs]
    return rp.http.post("/oauth/token", headers=headers, **kwargs)


def assert_bound(rp, body: dict, key: DpopKey) -> dict:
    assert body["token_type"] == "DPoP"
    claims = verify_jwt(rp.http, body["access_token"]).claims
    assert claims["cnf"] == {"jkt": key.jkt}
    return claims


def assert_error(response, error: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert "access_token" not in response.get_json()


@pytest.fixture
def key() -> DpopKey:
    return DpopKey()


@pytest.fixture
def public_app(create_oauth_client):
    client, _ = create_oauth_client(name="Phone app", is_confidential=False, is_first_party=True)
    return client


@pytest.fixture
def machine(create_oauth_client):
    return create_oauth_client(name="Billing job", grant_types=["client_credentials"], redirect_uris=[], scope="invoices:read")


def test_client_credentials_with_a_proof_get_a_bound_dpop_token(rp, machine, key):
    client, secret = machine
    response = token_request(rp, client, secret, {"grant_type": "client_credentials"}, key.proof())

    assert response.status_code == 200, response.get_data(as_text=True)
    assert_bound(rp, response.get_json(), key)


def test_without_a_proof_tokens_stay_bearer_tokens(rp, machine):
    client, secret = machine
    body = token_request(rp, client, secret, {"grant_type": "client_credentials"}).get_json()

    assert body["token_type"] == "Bearer"
    assert "cnf" not in verify_jwt(rp.http, body["access_token"]).claims


def test_code_flow_and_refresh_of_a_public_client_stay_bound_to_the_key(rp, user, public_app, key):
    issued = rp.code(public_app, user)
    data = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": issued.redirect_uri}
    response = token_request(rp, public_app, None, {**data, "code_verifier": issued.verifier}, key.proof())
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_bound(rp, body, key)
    row = db.session.scalar(db.select(RefreshToken).where(RefreshToken.token_digest == token_digest(body["refresh_token"])))
    assert row.dpop_jkt == key.jkt

    refreshed = token_request(
        rp, public_app, None, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, key.proof()
    )

    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert_bound(rp, refreshed.get_json(), key)
    again = {"grant_type": "refresh_token", "refresh_token": refreshed.get_json()["refresh_token"]}
    assert token_request(rp, public_app, None, again, key.proof()).status_code == 200


def test_a_bound_refresh_token_refuses_another_key_or_no_proof_and_stays_usable(rp, user, public_app, key):
    issued = rp.code(public_app, user)
    data = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": issued.redirect_uri}
    body = token_request(rp, public_app, None, {**data, "code_verifier": issued.verifier}, key.proof()).get_json()
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    assert_error(token_request(rp, public_app, None, refresh, DpopKey().proof()), "invalid_grant")
    assert_error(token_request(rp, public_app, None, refresh), "invalid_grant")
    assert token_request(rp, public_app, None, refresh, key.proof()).status_code == 200


def test_a_confidential_clients_refresh_token_is_not_bound(rp, user, rp_client, key):
    client, secret = rp_client
    issued = rp.code(client, user)
    data = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": issued.redirect_uri}
    body = token_request(rp, client, secret, {**data, "code_verifier": issued.verifier}, key.proof()).get_json()
    assert_bound(rp, body, key)

    refreshed = token_request(rp, client, secret, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})

    assert refreshed.status_code == 200 and refreshed.get_json()["token_type"] == "Bearer"


def test_dpop_jkt_at_authorization_binds_the_code_to_that_key(rp, user, public_app, key):
    issued = rp.code(public_app, user, dpop_jkt=key.jkt)
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
    }

    assert_error(token_request(rp, public_app, None, data, DpopKey().proof()), "invalid_grant")
    assert_error(token_request(rp, public_app, None, data), "invalid_grant")
    response = token_request(rp, public_app, None, data, key.proof())  # refused attempts left the code usable
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_bound(rp, response.get_json(), key)


@pytest.mark.parametrize("value", ["", "short", "x" * 44, "+" * 43])
def test_a_malformed_dpop_jkt_is_invalid_request(rp, user, public_app, value):
    rp.auth.login(user.email)
    response = rp.authorize(rp.request(public_app, dpop_jkt=value))

    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["Location"]


def test_the_device_grant_binds_to_the_polling_proof(rp, auth, create_oauth_client, ada, key):
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"])
    flow = started(rp, client)
    answer(auth, ada, flow["user_code"])

    response = token_request(rp, client, None, {"grant_type": DEVICE_CODE, "device_code": flow["device_code"]}, key.proof())

    assert response.status_code == 200, response.get_data(as_text=True)
    assert_bound(rp, response.get_json(), key)


@pytest.fixture
def ada(create_user):
    return create_user(email="ada@example.com")


def test_a_client_that_requires_dpop_is_refused_without_a_proof(rp, create_oauth_client, key):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api", require_dpop=True)

    assert_error(token_request(rp, client, secret, {"grant_type": "client_credentials"}), "invalid_dpop_proof")
    assert token_request(rp, client, secret, {"grant_type": "client_credentials"}, key.proof()).status_code == 200


def test_a_required_nonce_is_handed_out_then_accepted(app, rp, machine, key):
    app.config["DPOP_NONCE"] = True
    client, secret = machine

    refused = token_request(rp, client, secret, {"grant_type": "client_credentials"}, key.proof())

    assert_error(refused, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", nonce)
    assert_error(
        token_request(rp, client, secret, {"grant_type": "client_credentials"}, key.proof(nonce="stale")), "use_dpop_nonce"
    )
    accepted = token_request(rp, client, secret, {"grant_type": "client_credentials"}, key.proof(nonce=nonce))
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert accepted.headers["DPoP-Nonce"]
    assert_bound(rp, accepted.get_json(), key)


def test_discovery_lists_the_proof_algorithms(rp):
    algs = rp.http.get("/.well-known/openid-configuration").get_json()["dpop_signing_alg_values_supported"]

    assert "ES256" in algs and "none" not in algs and not any(a.startswith("HS") for a in algs)


@pytest.mark.skipif(not os.environ.get("IDP_TEST_REDIS_URL"), reason="needs IDP_TEST_REDIS_URL")
def test_with_redis_the_replay_store_is_redis(app, rp, machine, key):
    from app.models import UsedDpopProof

    client, secret = machine
    proof = key.proof()
    assert token_request(rp, client, secret, {"grant_type": "client_credentials"}, proof).status_code == 200
    assert_error(token_request(rp, client, secret, {"grant_type": "client_credentials"}, proof), "invalid_dpop_proof")
    assert db.session.scalar(db.select(db.func.count()).select_from(UsedDpopProof)) == 0
