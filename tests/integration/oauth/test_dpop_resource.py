"""DPoP-bound access tokens where they are used (RFC 9449 6-7): UserInfo and introspection."""

from __future__ import annotations

import pytest
from joserfc.jwk import OKPKey

from tests.integration.oauth.dpop_helpers import USERINFO_URL, DpopKey, ath, forged
from tests.integration.oauth.test_dpop import token_request


@pytest.fixture
def key() -> DpopKey:
    return DpopKey()


@pytest.fixture
def bound(rp, user, rp_client, key) -> dict:
    client, secret = rp_client
    issued = rp.code(client, user)
    data = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": issued.redirect_uri}
    response = token_request(rp, client, secret, {**data, "code_verifier": issued.verifier}, key.proof())
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def userinfo(rp, scheme: str, token: str, *proofs: str, method: str = "GET"):
    headers = [("Authorization", f"{scheme} {token}"), *(("DPoP", proof) for proof in proofs)]
    return rp.http.open("/oauth/userinfo", method=method, headers=headers)


def assert_challenge(response, error: str, scheme: str = "DPoP") -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(scheme) and f'error="{error}"' in challenge, challenge
    assert "sub" not in (response.get_json() or {})


def test_userinfo_answers_a_bound_token_with_its_proof(rp, user, bound, key):
    token = bound["access_token"]
    for method in ("GET", "POST"):
        response = userinfo(rp, "DPoP", token, key.proof(USERINFO_URL, method, ath=ath(token)), method=method)

        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["sub"] == str(user.id)


def test_a_bound_token_presented_as_bearer_is_refused_with_the_dpop_scheme(rp, bound):
    assert_challenge(userinfo(rp, "Bearer", bound["access_token"]), "invalid_token")


def test_an_unbound_token_with_the_dpop_scheme_is_refused(rp, tokens, key):
    token = tokens["access_token"]

    assert_challenge(userinfo(rp, "DPoP", token, key.proof(USERINFO_URL, "GET", ath=ath(token))), "invalid_token")


def test_proofs_userinfo_refuses(rp, bound, key, subtests):
    token = bound["access_token"]
    cases = {
        "no proof": ((), "invalid_dpop_proof"),
        "no ath": ((key.proof(USERINFO_URL, "GET"),), "invalid_dpop_proof"),
        "wrong ath": ((key.proof(USERINFO_URL, "GET", ath=ath("another token")),), "invalid_dpop_proof"),
        "token endpoint htu": ((key.proof(htm="GET", ath=ath(token)),), "invalid_dpop_proof"),
        "wrong htm": ((key.proof(USERINFO_URL, "POST", ath=ath(token)),), "invalid_dpop_proof"),
        "another key": ((DpopKey().proof(USERINFO_URL, "GET", ath=ath(token)),), "invalid_token"),
    }
    for name, (proofs, error) in cases.items():
        with subtests.test(name):
            assert_challenge(userinfo(rp, "DPoP", token, *proofs), error)


def test_userinfo_refuses_a_replayed_proof(rp, bound, key):
    token = bound["access_token"]
    proof = key.proof(USERINFO_URL, "GET", ath=ath(token))

    assert userinfo(rp, "DPoP", token, proof).status_code == 200
    assert_challenge(userinfo(rp, "DPoP", token, proof), "invalid_dpop_proof")


def test_userinfo_asks_for_a_nonce_when_required(app, rp, bound, key):
    token = bound["access_token"]
    app.config["DPOP_NONCE"] = True

    refused = userinfo(rp, "DPoP", token, key.proof(USERINFO_URL, "GET", ath=ath(token)))

    assert_challenge(refused, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    assert userinfo(rp, "DPoP", token, key.proof(USERINFO_URL, "GET", ath=ath(token), nonce=nonce)).status_code == 200


def test_introspection_shows_the_binding(rp, bound, key, resource_server):
    client, secret = resource_server

    body = rp.introspect(client, secret, bound["access_token"]).get_json()

    assert body["active"] is True
    assert body["cnf"] == {"jkt": key.jkt}
    assert body["token_type"] == "DPoP"


def test_introspection_of_an_unbound_token_has_no_cnf(rp, tokens, resource_server):
    client, secret = resource_server

    body = rp.introspect(client, secret, tokens["access_token"]).get_json()

    assert body["token_type"] == "Bearer" and "cnf" not in body


def test_an_ed25519_key_binds_too_but_deprecated_eddsa_is_refused(rp, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api")
    key = DpopKey(OKPKey.generate_key("Ed25519"))

    response = token_request(rp, client, secret, {"grant_type": "client_credentials"}, key.proof(header={"alg": "Ed25519"}))

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["token_type"] == "DPoP"
    old = forged({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.key.as_dict(private=False)}, {"jti": "j"}, b"x" * 64)
    assert (
        token_request(rp, client, secret, {"grant_type": "client_credentials"}, old).get_json()["error"] == "invalid_dpop_proof"
    )
