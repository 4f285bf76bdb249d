"""Introspection (RFC 7662): authenticated confidential clients only; active only for live tokens we issued."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.extensions import db
from app.models.base import utcnow
from tests.integration.oauth.conftest import RelyingParty, verify_jwt

INACTIVE = {"active": False}


def introspect(rp, resource_server, token, **extra):
    response = rp.introspect(*resource_server, token, **extra)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def test_a_live_access_token_is_active_with_its_members(app, rp, user, rp_client, tokens, resource_server):
    client, _ = rp_client
    claims = verify_jwt(rp.http, tokens["access_token"]).claims

    body = introspect(rp, resource_server, tokens["access_token"])

    assert body["active"] is True
    assert body["scope"] == "openid profile email"
    assert body["client_id"] == client.client_id
    assert body["sub"] == str(user.id)
    assert body["exp"] == claims["exp"] and body["iat"] == claims["iat"]
    assert body["token_type"] == "Bearer"
    assert body["aud"] == claims["aud"] and body["iss"] == app.config["ISSUER"]


def test_a_live_refresh_token_is_active(rp, user, rp_client, tokens, resource_server):
    client, _ = rp_client

    body = introspect(rp, resource_server, tokens["refresh_token"])

    assert body["active"] is True and body["token_type"] == "refresh_token"
    assert body["client_id"] == client.client_id and body["sub"] == str(user.id)
    assert body["exp"] > body["iat"]


def test_the_token_type_hint_is_only_a_hint(rp, tokens, resource_server, subtests):
    for hint in ["refresh_token", "access_token", "bogus", ""]:
        with subtests.test(hint=hint):
            assert introspect(rp, resource_server, tokens["access_token"], token_type_hint=hint)["active"] is True
            assert introspect(rp, resource_server, tokens["refresh_token"], token_type_hint=hint)["active"] is True


def test_the_issuing_client_may_introspect_its_own_token(rp, rp_client, tokens):
    client, secret = rp_client

    assert rp.introspect(client, secret, tokens["access_token"]).get_json()["active"] is True


def test_introspection_needs_an_authenticated_client_and_post(rp, tokens, resource_server, subtests):
    client, secret = resource_server
    token = {"token": tokens["access_token"]}
    attempts = {
        # The test client holds the person's session cookie: it must not count as authentication.
        "no-credentials": lambda: rp.http.post("/oauth/introspect", data=token),
        "wrong-secret": lambda: rp.introspect(client, "cs_wrong", tokens["access_token"]),
        "unknown-client": lambda: rp.http.post("/oauth/introspect", data=token, auth=("nobody", secret)),
        "client-id-only": lambda: rp.http.post("/oauth/introspect", data={**token, "client_id": client.client_id}),
    }
    for name, attempt in attempts.items():
        with subtests.test(name):
            response = attempt()
            assert response.status_code == 401
            assert response.get_json()["error"] == "invalid_client"
            assert "active" not in response.get_json()
    with subtests.test("get"):
        response = rp.http.get("/oauth/introspect", query_string=token, auth=(client.client_id, secret))
        assert response.status_code == 405


def test_a_public_client_cannot_introspect(rp, user, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False)
    tokens = rp.tokens(client, None, user)

    response = rp.introspect(client, None, tokens["access_token"])

    assert response.status_code == 401 and "active" not in response.get_json()


def test_a_missing_token_parameter_is_invalid_request(rp, resource_server):
    response = rp.introspect(*resource_server, None)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_an_expired_access_token_is_inactive(app_factory, create_user, create_oauth_client):
    app = app_factory(ACCESS_TOKEN_TTL=-30)  # every access token is born expired
    with app.app_context():
        from tests.conftest import AuthActions

        http = app.test_client()
        party = RelyingParty(app, http, AuthActions(http))
        client, secret = create_oauth_client()
        api = create_oauth_client(name="API", grant_types=["client_credentials"], redirect_uris=[], scope="api")
        tokens = party.tokens(client, secret, create_user(email="ada@example.com"))

        assert party.introspect(*api, tokens["access_token"]).get_json() == INACTIVE
        assert party.userinfo(tokens["access_token"]).status_code == 401


def test_an_expired_refresh_token_is_inactive(rp, tokens, resource_server):
    from tests.integration.oauth.test_refresh_rotation import row_of

    row = row_of(tokens["refresh_token"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert introspect(rp, resource_server, tokens["refresh_token"]) == INACTIVE


def test_a_revoked_access_token_is_inactive(rp, rp_client, tokens, resource_server):
    client, secret = rp_client
    assert rp.revoke(client, secret, tokens["access_token"]).status_code == 200

    assert introspect(rp, resource_server, tokens["access_token"]) == INACTIVE


def test_a_rotated_refresh_token_is_inactive(rp, rp_client, tokens, resource_server):
    client, secret = rp_client
    rp.refresh(client, secret, tokens["refresh_token"])

    assert introspect(rp, resource_server, tokens["refresh_token"]) == INACTIVE


def test_unknown_or_garbage_tokens_are_inactive(rp, resource_server, subtests):
    for token in [
        "garbage",
        "",
        "a.b.c",
        "rt_" + "A" * 43,
        "eyJhbGciOiJub25lIn0.e30.",
        "x" * 10_000,
        "\u00e9\u00e9.\u00e9.\u00e9",
    ]:
        with subtests.test(token=token[:20]):
            assert introspect(rp, resource_server, token) == INACTIVE


def test_an_id_token_is_not_an_access_token(rp, tokens, resource_server):
    assert introspect(rp, resource_server, tokens["id_token"]) == INACTIVE


def test_a_token_signed_by_a_foreign_key_is_inactive(app, rp, tokens, resource_server, subtests):
    claims = verify_jwt(rp.http, tokens["access_token"]).claims
    header = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[0] + "=="))
    for alg, key in (("RS256", RSAKey.generate_key(2048)), ("ES256", ECKey.generate_key("P-256"))):
        with subtests.test(alg=alg):
            forged = jwt.encode({**header, "alg": alg}, claims, key, algorithms=[alg])  # same kid, attacker's key
            assert introspect(rp, resource_server, forged) == INACTIVE
            assert rp.userinfo(forged).status_code == 401


def test_a_disabled_persons_refresh_token_is_inactive(rp, user, tokens, resource_server):
    user.is_disabled = True
    db.session.commit()

    answer = rp.introspect(*resource_server, tokens["refresh_token"]).get_json()

    assert answer == {"active": False}
