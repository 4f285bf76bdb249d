"""Encrypted ID tokens and signed or encrypted UserInfo per client (OIDC Core 10.2, 5.3.2; OIDC Registration 2).

Decryption and verification use joserfc directly with the client's private key and our published JWKS.
"""

from __future__ import annotations

import json

import pytest
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import select

from app.core.client_cache import client_cache
from app.extensions import db
from app.models import OAuthClient, RefreshToken
from tests.integration.oauth.conftest import REDIRECT_URI, count_rows, verify_jwt

LOGOUT_URI = "https://rp.example/signed-out"
ALGS = ["RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A256KW", "A128CBC-HS256", "A256GCM"]
RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rp-enc-1", "use": "enc"})
OTHER_RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rp-enc-1", "use": "enc"})
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "rp-ec"})
SIG_ONLY = RSAKey.generate_key(2048, parameters={"use": "sig"})
METADATA = {"client_name": "Encrypting RP", "redirect_uris": [REDIRECT_URI], "scope": "openid profile email"}


def public_jwks(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def decrypt(token: str, key) -> tuple[dict, bytes]:
    obj = jwe.decrypt_compact(token, key, algorithms=ALGS)
    return dict(obj.protected), obj.plaintext


@pytest.fixture
def encrypting_client(create_oauth_client):
    def make(key, **encryption):
        return create_oauth_client(
            is_first_party=True, post_logout_redirect_uris=[LOGOUT_URI], jwks=public_jwks(key), encryption=encryption
        )

    return make


@pytest.mark.parametrize(
    ("key", "alg", "enc"),
    [(RSA_KEY, "RSA-OAEP-256", None), (RSA_KEY, "RSA-OAEP-256", "A256GCM"), (EC_KEY, "ECDH-ES", "A256GCM")],
)
def test_the_id_token_is_signed_then_encrypted_to_the_clients_key(rp, user, encrypting_client, key, alg, enc):
    settings = {"id_token_encrypted_response_alg": alg, **({"id_token_encrypted_response_enc": enc} if enc else {})}
    client, secret = encrypting_client(key, **settings)

    issued = rp.code(client, user, nonce="n-0S6_WzA2Mj")
    id_token = rp.redeem(client, secret, issued).get_json()["id_token"]

    assert id_token.count(".") == 4
    header, inner = decrypt(id_token, key)
    header.pop("epk", None)  # ECDH-ES: the ephemeral public key
    assert header == {"alg": alg, "enc": enc or "A128CBC-HS256", "cty": "JWT", "kid": key.kid}
    claims = verify_jwt(rp.http, inner.decode(), ["RS256"]).claims
    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["aud"] == client.client_id and claims["sub"] == str(user.id)
    with pytest.raises((JoseError, ValueError)):
        decrypt(id_token, OTHER_RSA_KEY if key is RSA_KEY else ECKey.generate_key("P-256"))


def test_x25519_keys_and_ecdh_es_key_wrapping_work_too(rp, user, encrypting_client):
    okp = OKPKey.generate_key("X25519")
    client, secret = encrypting_client(okp, id_token_encrypted_response_alg="ECDH-ES+A256KW")

    header, inner = decrypt(rp.tokens(client, secret, user)["id_token"], okp)

    assert header["alg"] == "ECDH-ES+A256KW" and "kid" not in header
    assert verify_jwt(rp.http, inner.decode(), ["RS256"]).claims["aud"] == client.client_id


def test_clients_without_settings_get_a_plain_signed_id_token_and_json_userinfo(rp, user, tokens):
    assert tokens["id_token"].count(".") == 2
    response = rp.userinfo(tokens["access_token"])
    assert response.mimetype == "application/json" and response.get_json()["sub"] == str(user.id)


def _userinfo(rp, user, client, secret):
    response = rp.userinfo(rp.tokens(client, secret, user)["access_token"])
    assert response.status_code == 200 and response.mimetype == "application/jwt"
    return response.get_data(as_text=True)


def test_userinfo_signed_only(rp, user, encrypting_client, app):
    client, secret = encrypting_client(RSA_KEY, userinfo_signed_response_alg="RS256")

    claims = verify_jwt(rp.http, _userinfo(rp, user, client, secret), ["RS256"]).claims

    assert claims["iss"] == app.config["ISSUER"] and claims["aud"] == client.client_id
    assert claims["sub"] == str(user.id) and claims["email"] == user.email
    assert "exp" not in claims  # so it can never pass as an ID token hint


def test_userinfo_encrypted_only_is_a_jwe_of_the_json(rp, user, encrypting_client):
    client, secret = encrypting_client(EC_KEY, userinfo_encrypted_response_alg="ECDH-ES")

    header, plaintext = decrypt(_userinfo(rp, user, client, secret), EC_KEY)

    assert header.pop("epk")["crv"] == "P-256"
    assert header == {"alg": "ECDH-ES", "enc": "A128CBC-HS256", "kid": "rp-ec"}
    assert json.loads(plaintext)["sub"] == str(user.id)


def test_userinfo_signed_and_encrypted_is_nested(rp, user, encrypting_client):
    client, secret = encrypting_client(
        RSA_KEY,
        userinfo_signed_response_alg="RS256",
        userinfo_encrypted_response_alg="RSA-OAEP-256",
        userinfo_encrypted_response_enc="A256GCM",
    )
    body = _userinfo(rp, user, client, secret)

    header, inner = decrypt(body, RSA_KEY)

    assert header["cty"] == "JWT" and header["enc"] == "A256GCM"
    assert verify_jwt(rp.http, inner.decode(), ["RS256"]).claims["aud"] == client.client_id
    with pytest.raises((JoseError, ValueError)):
        decrypt(body, OTHER_RSA_KEY)


def test_a_client_whose_key_went_missing_gets_an_error_never_plain_tokens_or_claims(rp, user, encrypting_client):
    client, secret = encrypting_client(
        RSA_KEY, id_token_encrypted_response_alg="RSA-OAEP-256", userinfo_encrypted_response_alg="RSA-OAEP-256"
    )
    tokens = rp.tokens(client, secret, user)
    issued = rp.code(client)
    db.session.get(OAuthClient, client.id).jwks = public_jwks(SIG_ONLY)  # e.g. replaced by hand since
    db.session.commit()
    client_cache().invalidate()
    refresh_tokens = count_rows(RefreshToken)

    userinfo = rp.userinfo(tokens["access_token"])
    token = rp.redeem(client, secret, issued)

    assert userinfo.status_code == 400 and userinfo.get_json()["error"] == "invalid_client"
    assert token.status_code in (400, 401) and token.get_json()["error"] == "invalid_client"
    assert "id_token" not in token.get_json() and count_rows(RefreshToken) == refresh_tokens


def test_logout_takes_the_signed_inner_id_token_as_hint_not_the_encrypted_one(rp, user, encrypting_client):
    client, secret = encrypting_client(RSA_KEY, id_token_encrypted_response_alg="RSA-OAEP-256")
    encrypted = rp.tokens(client, secret, user)["id_token"]
    signed = decrypt(encrypted, RSA_KEY)[1].decode()

    refused = rp.http.get("/oauth/logout", query_string={"id_token_hint": encrypted, "post_logout_redirect_uri": LOGOUT_URI})
    assert refused.status_code == 200 and "Location" not in refused.headers  # no proof: asks first, no redirect

    response = rp.http.get("/oauth/logout", query_string={"id_token_hint": signed, "post_logout_redirect_uri": LOGOUT_URI})
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI


# --- dynamic registration ---


@pytest.fixture
def open_registration(app):
    app.config["OPEN_CLIENT_REGISTRATION"] = True


def test_registration_stores_and_returns_the_settings(open_registration, test_client, rp, user):
    metadata = {
        **METADATA,
        "jwks": public_jwks(SIG_ONLY, RSA_KEY),
        "id_token_encrypted_response_alg": "RSA-OAEP-256",
        "userinfo_signed_response_alg": "RS256",
    }
    response = test_client.post("/oauth/register", json=metadata)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id_token_encrypted_response_alg"] == "RSA-OAEP-256"
    assert body["id_token_encrypted_response_enc"] == "A128CBC-HS256"  # OIDC Registration 2 default
    assert body["userinfo_signed_response_alg"] == "RS256" and body["jwks"] == metadata["jwks"]
    client = db.session.scalar(select(OAuthClient).filter_by(client_id=body["client_id"]))
    header, _ = decrypt(rp.tokens(client, body["client_secret"], user)["id_token"], RSA_KEY)
    assert header["kid"] == "rp-enc-1"


@pytest.mark.parametrize(
    "change",
    [
        {"id_token_encrypted_response_alg": "RSA1_5"},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "id_token_encrypted_response_enc": "A128GCM"},
        {"id_token_encrypted_response_alg": ["RSA-OAEP-256"]},
        {"id_token_encrypted_response_enc": "A256GCM"},
        {"userinfo_encrypted_response_enc": "A256GCM"},
        {"userinfo_signed_response_alg": "none"},
        {"userinfo_signed_response_alg": "HS256"},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": None},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": None, "jwks_uri": "https://rp.example/jwks"},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": public_jwks(SIG_ONLY)},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": public_jwks(EC_KEY)},
        {"userinfo_encrypted_response_alg": "ECDH-ES", "jwks": public_jwks(RSA_KEY)},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": {"keys": [RSA_KEY.as_dict(private=True)]}},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": {"keys": "nope"}},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": [RSA_KEY.as_dict(private=False)]},
        {"id_token_encrypted_response_alg": "RSA-OAEP-256", "jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}},
    ],
)
def test_registration_refuses_bad_settings_and_stores_nothing(open_registration, test_client, change):
    metadata = {**METADATA, "jwks": public_jwks(RSA_KEY), **change}
    metadata = {k: v for k, v in metadata.items() if v is not None}

    response = test_client.post("/oauth/register", json=metadata)

    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_client_metadata"
    assert count_rows(OAuthClient) == 0


def test_discovery_lists_what_is_supported(test_client):
    metadata = test_client.get("/.well-known/openid-configuration").get_json()
    assert metadata["id_token_encryption_alg_values_supported"] == ["RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A256KW"]
    assert metadata["userinfo_encryption_enc_values_supported"] == ["A128CBC-HS256", "A256GCM"]


# --- the CLI ---


def test_cli_creates_an_encrypting_client_with_the_jwks_file(app, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(RSA_KEY)))
    args = ["clients", "create", "--name", "Enc", "--redirect-uri", REDIRECT_URI, "--jwks-file", str(path)]
    runner = app.test_cli_runner()

    result = runner.invoke(args=[*args, "--id-token-encryption", "RSA-OAEP-256", "--userinfo-signed", "RS256"])

    assert result.exit_code == 0, result.output
    client = db.session.scalar(select(OAuthClient).filter_by(client_id=json.loads(result.output)["client_id"]))
    assert client.id_token_encrypted_response_alg == "RSA-OAEP-256"
    assert client.id_token_encrypted_response_enc == "A128CBC-HS256" and client.userinfo_signed_response_alg == "RS256"
    refused = runner.invoke(args=[*args[:-2], "--userinfo-encryption", "ECDH-ES"])  # no keys at all
    assert refused.exit_code == 2 and "jwks" in refused.output


def test_an_update_replaces_the_settings_and_a_bad_one_changes_nothing(open_registration, test_client):
    metadata = {**METADATA, "jwks": public_jwks(EC_KEY), "userinfo_encrypted_response_alg": "ECDH-ES"}
    body = test_client.post("/oauth/register", json=metadata).get_json()
    url, headers = f"/oauth/register/{body['client_id']}", {"Authorization": f"Bearer {body['registration_access_token']}"}
    update = {**METADATA, "client_id": body["client_id"], "client_secret": body["client_secret"]}

    bad = test_client.put(url, headers=headers, json={**update, "userinfo_encrypted_response_alg": "RSA-OAEP-256"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_client_metadata"  # EC key only
    assert test_client.get(url, headers=headers).get_json()["userinfo_encrypted_response_alg"] == "ECDH-ES"

    replaced = test_client.put(url, headers=headers, json=update).get_json()  # omitted: no encryption any more
    assert "userinfo_encrypted_response_alg" not in replaced and "jwks" not in replaced
    row = db.session.scalar(select(OAuthClient).filter_by(client_id=body["client_id"]))
    db.session.refresh(row)
    assert row.userinfo_encrypted_response_alg is None and row.userinfo_encrypted_response_enc is None
