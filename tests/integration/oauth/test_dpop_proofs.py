"""DPoP proofs refused at the token endpoint (RFC 9449 4.3), and the RFC's own example values."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import ECKey, RSAKey

from app.core.dpop import access_token_hash, normalized_url
from app.extensions import db
from app.models import UsedDpopProof
from tests.integration.oauth.dpop_helpers import TOKEN_URL, DpopKey, b64, forged, hmac_proof
from tests.integration.oauth.test_dpop import assert_error, token_request

GRANT = {"grant_type": "client_credentials"}

# RFC 9449 4.2's example key; 6.1 gives its thumbprint as the cnf.jkt.
RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}


@pytest.fixture
def machine(create_oauth_client):
    return create_oauth_client(name="Billing job", grant_types=["client_credentials"], redirect_uris=[], scope="invoices:read")


@pytest.fixture
def send(rp, machine):
    client, secret = machine
    return lambda *proofs: token_request(rp, client, secret, GRANT, *proofs)


def test_the_rfc_examples_thumbprint_and_ath():
    assert ECKey.import_key(RFC_JWK).thumbprint() == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


def test_htu_comparison_ignores_query_fragment_case_and_default_port():
    assert normalized_url("HTTPS://Server.Example.COM:443/token?x=1#f") == normalized_url("https://server.example.com/token")
    assert normalized_url("https://server.example.com:8443/token") != normalized_url("https://server.example.com/token")
    assert normalized_url("https://server.example.com/Token") != normalized_url("https://server.example.com/token")
    assert normalized_url("ftp://server.example.com/token") is None


def test_a_replayed_proof_is_refused(send):
    proof = DpopKey().proof()

    assert send(proof).status_code == 200
    assert_error(send(proof), "invalid_dpop_proof")


def test_without_redis_each_jti_is_a_row(app, send):
    if app.config.get("REDIS_URL"):
        pytest.skip("Redis holds the jti")
    assert send(DpopKey().proof()).status_code == 200
    assert db.session.scalar(db.select(db.func.count()).select_from(UsedDpopProof)) == 1


def test_an_rsa_proof_is_accepted(send):
    assert send(DpopKey(RSAKey.generate_key(2048)).proof(header={"alg": "PS256"})).status_code == 200


def refused_proofs() -> dict[str, object]:
    now = int(time.time())
    key = DpopKey()
    claims = {"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": now}
    public = key.key.as_dict(private=False)
    return {
        "wrong htu": lambda: key.proof("http://localhost:5000/oauth/userinfo"),
        "other host": lambda: key.proof("http://evil.example/oauth/token"),
        "wrong htm": lambda: key.proof(htm="GET"),
        "iat too old": lambda: key.proof(iat=now - 120),
        "iat in the future": lambda: key.proof(iat=now + 60),
        "iat not a number": lambda: key.proof(iat="now"),
        "no jti": lambda: key.proof(jti=None),
        "jti too long": lambda: key.proof(jti="j" * 129),
        "typ jwt": lambda: key.proof(header={"typ": "JWT"}),
        "alg none": lambda: forged({"typ": "dpop+jwt", "alg": "none", "jwk": public}, claims, b""),
        "alg HS256": lambda: hmac_proof(claims),
        "private key in jwk": lambda: key.proof(header={"jwk": key.key.as_dict(private=True)}),
        "no jwk": lambda: forged({"typ": "dpop+jwt", "alg": "ES256"}, claims),
        "bad signature": lambda: forged({"typ": "dpop+jwt", "alg": "ES256", "jwk": public}, claims, b"x" * 64),
        "another key's signature": lambda: key.proof(header={"jwk": DpopKey().key.as_dict(private=False)}),
        "alg not the key's": lambda: forged({"typ": "dpop+jwt", "alg": "RS256", "jwk": public}, claims, b"x" * 256),
        "not a JWS": lambda: "not-a-jws",
        "JSON serialization": lambda: '{"payload": "x"}',
        "payload not an object": lambda: forged({"typ": "dpop+jwt", "alg": "ES256", "jwk": public}, [1]),  # type: ignore[arg-type]
        "too long": lambda: key.proof(pad="x" * 9000),
        "garbage header": lambda: b64(b"\xff\xfe") + ".e30.c2ln",
    }


@pytest.mark.parametrize("case", sorted(refused_proofs()))
def test_a_bad_proof_is_invalid_dpop_proof(send, case):
    response = send(refused_proofs()[case]())

    assert_error(response, "invalid_dpop_proof")
    assert response.headers["Cache-Control"] == "no-store"


def test_two_dpop_headers_are_refused(send):
    key = DpopKey()

    assert_error(send(key.proof(), key.proof()), "invalid_dpop_proof")


def test_an_empty_dpop_header_is_refused(send):
    assert_error(send(""), "invalid_dpop_proof")
