"""Forged access tokens (RFC 8725, docs/security.md Tokens): none, HS/RS confusion, header keys, kid, iss, tampering.

Each forgery is shown to both consumers of access tokens, introspection and UserInfo; both must refuse it.
The genuine token the forgeries start from is signed by the server's own issuing code (the flow that
normally produces it is covered by test_code_redemption).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from app.core.jwts import issue_access_token
from app.core.keys import keyring
from app.models.base import utcnow

ATTACKER_RSA = RSAKey.generate_key(2048, parameters={"kid": "attacker-rsa"})
ATTACKER_EC = ECKey.generate_key("P-256", parameters={"kid": "attacker-ec"})


def b64(data: bytes | dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    return json.loads(base64.urlsafe_b64decode(header + "==")), json.loads(base64.urlsafe_b64decode(payload + "=="))


def sign_raw(header: dict, claims: dict, key) -> str:
    """Sign exactly this header (joserfc refuses to *create* some of these tokens, an attacker's tool would not)."""
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    return f"{signing_input.decode()}.{b64(jws.default_registry.get_alg(header['alg']).sign(signing_input, key))}"


def hmac_sign(header: dict, claims: dict, secret: bytes) -> str:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[header["alg"]]
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    return f"{signing_input.decode()}.{b64(hmac.new(secret, signing_input, digest).digest())}"


def own_key(algorithm: str):
    return keyring().signing_key(algorithm)


@pytest.fixture
def genuine(app, create_user, create_oauth_client):
    """(token, header, claims) of a real, live user access token: the template for every forgery."""
    client, _ = create_oauth_client()
    user = create_user(email="ada@example.com")
    token = issue_access_token(client, "openid profile email", user=user, auth_time=utcnow()).token
    return (token, *parts(token))


@pytest.fixture
def refused(rp, resource_server):
    """refused(token): introspection answers inactive and UserInfo 401 invalid_token."""

    def check(token: str) -> None:
        response = rp.introspect(*resource_server, token)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {"active": False}
        userinfo = rp.userinfo(token)
        assert userinfo.status_code == 401, userinfo.get_data(as_text=True)
        assert 'error="invalid_token"' in userinfo.headers["WWW-Authenticate"]

    return check


def test_the_genuine_token_passes_both_checks(rp, resource_server, genuine):
    assert rp.introspect(*resource_server, genuine[0]).get_json()["active"] is True
    assert rp.userinfo(genuine[0]).status_code == 200


def test_alg_none_is_refused(genuine, refused, subtests):
    token, header, claims = genuine
    for alg in ["none", "None", "NONE", "nOnE"]:
        with subtests.test(alg=alg):
            refused(f"{b64({**header, 'alg': alg})}.{b64(claims)}.")
    with subtests.test("the original signature kept"):
        refused(f"{b64({**header, 'alg': 'none'})}.{b64(claims)}.{token.split('.')[2]}")


def test_hmac_signed_with_our_public_key_is_refused(rp, genuine, refused, subtests):
    """HS/RS confusion: a verifier that lets the header pick the algorithm would use the public key as secret."""
    _, header, claims = genuine
    published = {key["kid"]: key for key in rp.http.get("/oauth/jwks").get_json()["keys"]}
    for algorithm in ("RS256", "ES256"):
        signing = own_key(algorithm)
        secrets_tried = {
            "pem": signing.key.as_pem(private=False),
            "jwk-json": json.dumps(published[signing.kid]).encode(),
            "jwk-compact": json.dumps(published[signing.kid], separators=(",", ":")).encode(),
        }
        for hs in ("HS256", "HS512"):
            for name, secret in secrets_tried.items():
                with subtests.test(key=algorithm, alg=hs, secret=name):
                    refused(hmac_sign({**header, "alg": hs, "kid": signing.kid}, claims, secret))


def test_an_embedded_jwk_header_is_ignored(genuine, refused, subtests):
    _, header, claims = genuine
    for key, alg in ((ATTACKER_RSA, "RS256"), (ATTACKER_EC, "ES256")):
        for kid in (key.kid, header["kid"]):
            with subtests.test(alg=alg, kid=kid):
                forged_header = {**header, "alg": alg, "kid": kid, "jwk": key.as_dict(private=False)}
                refused(jwt.encode(forged_header, claims, key, algorithms=[alg]))


def test_a_jku_or_x5u_header_pointing_at_an_attacker_key_is_ignored(genuine, refused, subtests):
    _, header, claims = genuine
    for field in ("jku", "x5u"):
        for kid in (ATTACKER_RSA.kid, header["kid"]):
            with subtests.test(field=field, kid=kid):
                forged_header = {**header, "alg": "RS256", "kid": kid, field: "https://attacker.example/jwks.json"}
                refused(jwt.encode(forged_header, claims, ATTACKER_RSA, algorithms=["RS256"]))


def test_a_token_signed_by_a_foreign_key_under_our_kid_is_refused(genuine, refused):
    _, header, claims = genuine

    refused(jwt.encode(header, claims, ATTACKER_EC, algorithms=["ES256"]))


def test_an_unknown_or_missing_kid_is_refused_even_with_a_valid_signature(genuine, refused, subtests):
    _, header, claims = genuine
    for kid in ["unknown-kid", "", None, "../../etc/passwd", "x" * 500]:
        with subtests.test(kid=kid):
            forged_header = {k: v for k, v in header.items() if k != "kid"}
            if kid is not None:
                forged_header["kid"] = kid
            refused(jwt.encode(forged_header, claims, own_key("ES256").key, algorithms=["ES256"]))


def test_a_kid_used_with_another_algorithm_than_its_own_is_refused(genuine, refused, subtests):
    _, header, claims = genuine
    rsa = own_key("RS256")
    for alg in ("PS256", "RS512"):
        with subtests.test(alg=alg):
            refused(jwt.encode({**header, "alg": alg, "kid": rsa.kid}, claims, rsa.key, algorithms=[alg]))


def test_claims_we_would_never_sign_are_refused_even_with_our_signature(genuine, refused, subtests):
    _, header, claims = genuine
    changes = {
        "foreign-iss": {"iss": "https://evil.example"},
        "iss-trailing-slash": {"iss": claims["iss"] + "/"},
        "no-iss": {"iss": None},
        "no-exp": {"exp": None},
        "expired": {"exp": int(time.time()) - 60},
        "exp-string": {"exp": "never"},
        "no-jti": {"jti": None},
    }
    for name, change in changes.items():
        with subtests.test(name):
            forged = {k: v for k, v in {**claims, **change}.items() if v is not None}
            refused(jwt.encode(header, forged, own_key("ES256").key, algorithms=["ES256"]))


def test_a_token_of_another_type_is_refused(genuine, refused, subtests):
    _, header, claims = genuine
    for typ in ["JWT", "jwt", "", "at+jwt+extra", None]:
        with subtests.test(typ=typ):
            forged_header = {k: v for k, v in {**header, "typ": typ}.items() if v is not None}
            refused(jwt.encode(forged_header, claims, own_key("ES256").key, algorithms=["ES256"]))


def test_an_unknown_critical_header_is_refused(genuine, refused):
    _, header, claims = genuine
    forged_header = {**header, "crit": ["urn:example:must-understand"], "urn:example:must-understand": True}

    refused(sign_raw(forged_header, claims, own_key("ES256").key))


def test_a_tampered_payload_is_refused(genuine, refused, subtests):
    token, _, claims = genuine
    head, _, signature = token.split(".")
    changes = {"sub": "999999", "scope": "openid profile email admin", "client_id": "someone-else", "exp": claims["exp"] + 86400}
    for field, value in changes.items():
        with subtests.test(field=field):
            refused(f"{head}.{b64({**claims, field: value})}.{signature}")


def test_a_stripped_signature_is_refused(genuine, refused):
    refused(genuine[0].rsplit(".", 1)[0] + ".")


def test_malformed_tokens_are_refused(refused, subtests):
    tokens = {
        "five-parts": "e30.e30.e30.e30.e30",
        "two-parts": "e30.e30",
        "dots": "....",
        "not-base64": "%%%.%%%.%%%",
        "oversized": "eyJhbGciOiJFUzI1NiJ9." + "A" * 5000 + ".sig",
    }
    for name, token in tokens.items():
        with subtests.test(name):
            refused(token)
