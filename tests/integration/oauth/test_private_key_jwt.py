"""private_key_jwt (RFC 7523 2.2): signed assertions from registered keys, each jti accepted once."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import func, select

from app.core.clients import ClientSpec, ClientSpecError, create_client
from app.extensions import db
from app.models import UsedClientAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = "http://localhost:5000/oauth/token"


@pytest.fixture
def client_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "rp-1"})


@pytest.fixture
def machine_client(app, client_key):
    client, secret = create_client(
        ClientSpec(
            name="Machine",
            is_confidential=True,
            redirect_uris=[],
            grant_types=["client_credentials"],
            scope="reports:read",
            token_endpoint_auth_method="private_key_jwt",
            jwks={"keys": [client_key.as_dict(private=False)]},
        )
    )
    db.session.commit()
    assert secret is None  # a key-authenticated client gets no shared secret
    return client


def make_assertion(client_id: str, key, *, aud: str = TOKEN_URL, alg: str = "ES256", jti: str | None = None, **extra):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": jti or secrets.token_hex(12)}
    claims.update(extra)
    return jwt.encode({"alg": alg, "kid": "rp-1"}, claims, key)


def request_token(test_client, assertion: str):
    return test_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion},
    )


def test_signed_assertion_authenticates_the_client(test_client, machine_client, client_key):
    response = request_token(test_client, make_assertion(machine_client.client_id, client_key))
    assert response.status_code == 200
    assert response.json["scope"] == "reports:read"


def test_issuer_url_is_accepted_as_audience(test_client, machine_client, client_key):
    assertion = make_assertion(machine_client.client_id, client_key, aud="http://localhost:5000")
    assert request_token(test_client, assertion).status_code == 200


def test_the_same_jti_is_refused_the_second_time(test_client, machine_client, client_key):
    assertion = make_assertion(machine_client.client_id, client_key)
    assert request_token(test_client, assertion).status_code == 200
    replay = request_token(test_client, assertion)
    assert replay.status_code in (400, 401)
    assert replay.json["error"] == "invalid_client"


@pytest.mark.parametrize("aud", ["https://other.example/token", "http://localhost:5000/oauth/authorize"])
def test_assertion_for_another_audience_is_refused(test_client, machine_client, client_key, aud):
    response = request_token(test_client, make_assertion(machine_client.client_id, client_key, aud=aud))
    assert response.json["error"] == "invalid_client"


def test_assertion_signed_by_an_unregistered_key_is_refused(test_client, machine_client):
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-1"})
    response = request_token(test_client, make_assertion(machine_client.client_id, stranger))
    assert response.json["error"] == "invalid_client"


def test_expired_assertion_is_refused(test_client, machine_client, client_key):
    past = int(time.time()) - 600
    assertion = make_assertion(machine_client.client_id, client_key, iat=past, exp=past + 60)
    assert request_token(test_client, assertion).json["error"] == "invalid_client"


def test_hmac_with_the_public_key_as_secret_is_refused(test_client, machine_client, client_key):
    public_json = json.dumps(client_key.as_dict(private=False)).encode()
    forged = make_assertion(machine_client.client_id, OctKey.import_key(public_json), alg="HS256")
    assert request_token(test_client, forged).json["error"] == "invalid_client"


def test_unsigned_assertion_is_refused(test_client, machine_client):
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    cid = machine_client.client_id
    unsigned = f"{b64({'alg': 'none'})}.{b64({'iss': cid, 'sub': cid, 'aud': TOKEN_URL, 'exp': now + 60, 'jti': 'x'})}."
    assert request_token(test_client, unsigned).json["error"] == "invalid_client"


def test_embedded_jwk_header_is_not_trusted(test_client, machine_client):
    attacker = ECKey.generate_key("P-256")
    now = int(time.time())
    cid = machine_client.client_id
    header = {"alg": "ES256", "kid": "rp-1", "jwk": attacker.as_dict(private=False)}
    claims = {"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": now + 60, "jti": secrets.token_hex(8)}
    assert request_token(test_client, jwt.encode(header, claims, attacker)).json["error"] == "invalid_client"


def test_oversized_assertion_is_refused_before_parsing(test_client, machine_client):
    assert request_token(test_client, "a" * 9000).json["error"] == "invalid_client"


def test_iss_and_sub_must_both_name_the_client(test_client, machine_client, client_key):
    assertion = make_assertion(machine_client.client_id, client_key, iss="someone-else")
    assert request_token(test_client, assertion).json["error"] == "invalid_client"


def test_secret_based_client_cannot_switch_to_assertions(test_client, app, client_key):
    client, _secret = create_client(
        ClientSpec(name="Secretive", is_confidential=True, redirect_uris=[], grant_types=["client_credentials"], scope="x")
    )
    db.session.commit()
    response = request_token(test_client, make_assertion(client.client_id, client_key))
    assert response.json["error"] == "invalid_client"


@pytest.mark.parametrize(
    "jwks",
    [None, {"keys": []}, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "not a dict"],
)
def test_registration_needs_usable_public_keys(app, jwks):
    with pytest.raises(ClientSpecError):
        create_client(
            ClientSpec(
                name="Bad keys",
                is_confidential=True,
                redirect_uris=[],
                grant_types=["client_credentials"],
                scope="x",
                token_endpoint_auth_method="private_key_jwt",
                jwks=jwks,
            )
        )


def test_registration_refuses_private_key_material(app, client_key):
    with pytest.raises(ClientSpecError, match="private"):
        create_client(
            ClientSpec(
                name="Leaky",
                is_confidential=True,
                redirect_uris=[],
                grant_types=["client_credentials"],
                scope="x",
                token_endpoint_auth_method="private_key_jwt",
                jwks={"keys": [client_key.as_dict(private=True)]},
            )
        )


def test_discovery_advertises_private_key_jwt_and_its_algorithms(test_client):
    metadata = test_client.get("/.well-known/openid-configuration").json
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "HS256" not in metadata["token_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.skipif(not os.environ.get("IDP_TEST_DATABASE_URL"), reason="parallel writes need PostgreSQL")
def test_parallel_uses_of_one_assertion_succeed_once(app, machine_client, client_key):
    assertion = make_assertion(machine_client.client_id, client_key)

    def attempt(_):
        with app.app_context():
            return request_token(app.test_client(), assertion).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(attempt, range(6)))
    assert statuses.count(200) == 1
    assert 500 not in statuses
    assert db.session.scalar(select(func.count()).select_from(UsedClientAssertion)) == 1
