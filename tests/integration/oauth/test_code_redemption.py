"""Code redemption (RFC 6749 4.1.3, OAuth 2.1 4.1.3, OIDC Core 3.1.3): single use, bound, and the ID token.

OpenID conformance modules covered here: oidcc-server, oidcc-codereuse, oidcc-codereuse-30seconds,
oidcc-ensure-request-without-nonce-succeeds-for-code-flow, oidcc-scope-profile, oidcc-scope-email,
oidcc-server-client-secret-post, oidcc-ensure-request-with-valid-pkce-succeeds.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from joserfc import jws
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, AuthorizationCode, RefreshToken, RevokedAccessToken, UserSession
from app.models.base import utcnow
from tests.conftest import audit_types
from tests.integration.oauth.conftest import Issued, count_rows, pkce_pair, table_counts, verify_jwt


@pytest.fixture
def user(create_user):
    return create_user(email="ada@example.com", display_name="Ada Lovelace")


def code_row() -> AuthorizationCode:
    db.session.expire_all()
    return db.session.scalar(select(AuthorizationCode))


def assert_token_error(response, error: str, status: int = 400):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert "access_token" not in response.get_json()


def is_active(rp, resource_server, token: str) -> bool:
    return rp.introspect(*resource_server, token).get_json()["active"]


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_a_code_redeems_once_for_access_refresh_and_id_tokens(app, rp, user, rp_client):
    client, secret = rp_client
    issued = rp.code(client, user)

    response = rp.redeem(client, secret, issued)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 600
    assert body["scope"] == "openid profile email"
    assert body["refresh_token"].startswith("rt_") and body["access_token"].count(".") == 2
    assert code_row().used_at is not None
    assert audit_types(user)[-1] == "oauth.token_issued"


def test_code_is_stored_only_as_a_digest_and_lives_at_most_60_seconds(rp, user, rp_client):
    client, _ = rp_client
    issued = rp.code(client, user)

    row = code_row()
    assert row.code_digest == hashlib.sha256(issued.code.encode()).hexdigest()
    stored = [str(getattr(row, column.key)) for column in AuthorizationCode.__table__.columns]
    assert not any(issued.code.removeprefix("ac_") in value for value in stored)
    assert len(issued.code.removeprefix("ac_")) >= 43  # 256 bits of randomness, base64url
    assert (row.expires_at - row.created_at) <= timedelta(seconds=60)
    assert row.redirect_uri == issued.redirect_uri and row.code_challenge_method == "S256"


def test_a_replayed_code_is_invalid_grant_and_kills_what_the_first_redemption_issued(rp, user, rp_client, resource_server):
    client, secret = rp_client
    issued = rp.code(client, user)
    first = rp.redeem(client, secret, issued).get_json()
    assert is_active(rp, resource_server, first["access_token"])

    replay = rp.redeem(client, secret, issued)

    assert_token_error(replay, "invalid_grant")
    assert not is_active(rp, resource_server, first["access_token"])
    assert rp.userinfo(first["access_token"]).status_code == 401
    assert_token_error(rp.refresh(client, secret, first["refresh_token"]), "invalid_grant")
    assert not is_active(rp, resource_server, first["refresh_token"])
    assert "oauth.code_replayed" in audit_types(user)
    assert count_rows(RefreshToken) == 1  # nothing new was issued by the replay


def test_a_replay_with_a_wrong_verifier_revokes_nothing(rp, user, rp_client, resource_server):
    """Only a replay that would otherwise succeed proves the code leaked; a guess must not be a kill switch."""
    client, secret = rp_client
    issued = rp.code(client, user)
    first = rp.redeem(client, secret, issued).get_json()
    before = table_counts()

    replay = rp.redeem(client, secret, issued, code_verifier=pkce_pair()[0])

    assert_token_error(replay, "invalid_grant")
    assert table_counts() == before
    assert count_rows(RevokedAccessToken) == 0
    assert is_active(rp, resource_server, first["access_token"])
    assert rp.refresh(client, secret, first["refresh_token"]).status_code == 200
    assert "oauth.code_replayed" not in audit_types(user)


def test_a_replay_without_a_verifier_revokes_nothing(rp, user, rp_client, resource_server):
    client, secret = rp_client
    issued = rp.code(client, user)
    first = rp.redeem(client, secret, issued).get_json()

    assert_token_error(rp.redeem(client, secret, issued, code_verifier=None), "invalid_request")
    assert is_active(rp, resource_server, first["access_token"])


def test_an_expired_code_is_invalid_grant_and_issues_nothing(rp, user, rp_client):
    client, secret = rp_client
    issued = rp.code(client, user)
    row = code_row()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    before = table_counts()

    assert_token_error(rp.redeem(client, secret, issued), "invalid_grant")
    assert table_counts() == before
    assert code_row().used_at is None


def test_a_code_of_client_a_redeemed_by_client_b_is_invalid_grant(rp, user, rp_client, create_oauth_client):
    client_a, secret_a = rp_client
    client_b, secret_b = create_oauth_client()
    issued = rp.code(client_a, user)
    before = table_counts()

    response = rp.redeem(client_b, secret_b, issued)

    assert_token_error(response, "invalid_grant")
    assert table_counts() == before
    assert rp.redeem(client_a, secret_a, issued).status_code == 200  # the rightful client is unaffected


def test_client_b_replaying_client_as_used_code_revokes_nothing(rp, user, rp_client, create_oauth_client, resource_server):
    client_a, secret_a = rp_client
    client_b, secret_b = create_oauth_client()
    issued = rp.code(client_a, user)
    first = rp.redeem(client_a, secret_a, issued).get_json()

    assert_token_error(rp.redeem(client_b, secret_b, issued), "invalid_grant")
    assert is_active(rp, resource_server, first["access_token"])


def test_a_redirect_uri_different_from_the_authorization_request_is_invalid_grant(rp, user, create_oauth_client, subtests):
    client, secret = create_oauth_client(redirect_uris=["https://rp.example/cb", "https://rp.example/other"], is_first_party=True)
    issued = rp.code(client, user)
    for redirect_uri in ["https://rp.example/cb/", "https://rp.example/other", "https://RP.example/cb", "", None]:
        with subtests.test(redirect_uri=redirect_uri):
            assert_token_error(rp.redeem(client, secret, issued, redirect_uri=redirect_uri), "invalid_grant")
            assert code_row().used_at is None

    assert rp.redeem(client, secret, issued).status_code == 200


def test_a_disabled_or_locked_user_gets_invalid_grant(rp, user, rp_client, subtests):
    client, secret = rp_client
    rp.auth.login(user.email)
    for state in ("disabled", "locked"):
        with subtests.test(state=state):
            issued = rp.code(client)
            if state == "disabled":
                user.is_disabled = True
            else:
                user.locked_until = utcnow() + timedelta(minutes=10)
            db.session.commit()

            assert_token_error(rp.redeem(client, secret, issued), "invalid_grant")
            assert count_rows(RefreshToken) == 0
            assert "oauth.token_issued" not in audit_types(user)
            user.is_disabled, user.locked_until = False, None
            db.session.commit()


def test_an_unknown_or_oversized_code_is_invalid_grant(rp, user, rp_client, subtests):
    client, secret = rp_client
    issued = rp.code(client, user)
    before = table_counts()
    for code in ["ac_" + "A" * 43, "", "x" * 129, "x" * 5000, issued.code + "x", issued.code.upper()]:
        with subtests.test(code=code[:20]):
            response = rp.redeem(client, secret, Issued(code, issued.verifier, issued.redirect_uri))
            assert response.status_code == 400
            assert response.get_json()["error"] == "invalid_grant"
            assert table_counts() == before


def test_malformed_token_requests_are_refused_and_leave_the_code_unused(rp, user, rp_client, subtests):
    client, secret = rp_client
    issued = rp.code(client, user)  # this browser is now signed in: its cookie must count for nothing
    form = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
    }
    basic = (client.client_id, secret)
    attempts = {
        "missing-code": (
            lambda: rp.http.post("/oauth/token", data={k: v for k, v in form.items() if k != "code"}, auth=basic),
            400,
            "invalid_request",
        ),
        "json-body": (lambda: rp.http.post("/oauth/token", json=form, auth=basic), 400, "invalid_request"),
        "get": (lambda: rp.http.get("/oauth/token", query_string=form, auth=basic), 405, None),
        "cookie-only": (lambda: rp.http.post("/oauth/token", data=form), 401, "invalid_client"),
        "client-id-only": (
            lambda: rp.http.post("/oauth/token", data={**form, "client_id": client.client_id}),
            401,
            "invalid_client",
        ),
    }
    for name, (attempt, status, error) in attempts.items():
        with subtests.test(name):
            response = attempt()
            assert response.status_code == status
            if error:
                assert response.get_json()["error"] == error
                assert response.headers["Cache-Control"] == "no-store"
            assert code_row().used_at is None

    assert rp.redeem(client, secret, issued).status_code == 200


def test_an_unsupported_grant_type_is_refused(rp, rp_client, subtests):
    client, secret = rp_client
    for grant_type in ["password", "implicit", "", "urn:ietf:params:oauth:grant-type:jwt-bearer", None]:
        with subtests.test(grant_type=grant_type):
            response = rp.post("/oauth/token", client, secret, {"grant_type": grant_type, "username": "a", "password": "b"})
            assert_token_error(response, "unsupported_grant_type")


def test_a_client_without_the_code_grant_gets_unauthorized_client(rp, user, rp_client, create_oauth_client):
    client, _ = rp_client
    issued = rp.code(client, user)
    machine, machine_secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[])

    assert_token_error(rp.redeem(machine, machine_secret, issued), "unauthorized_client")


def test_id_token_carries_the_oidc_claims_and_a_correct_at_hash(app, rp, user, rp_client):
    client, secret = rp_client
    issued = rp.code(client, user, nonce="n-0S6_WzA2Mj")
    tokens = rp.redeem(client, secret, issued).get_json()

    token = verify_jwt(rp.http, tokens["id_token"], ["RS256"])
    claims = token.claims
    session = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))

    assert token.header["alg"] == "RS256" and token.header["kid"]
    assert claims["iss"] == app.config["ISSUER"]
    assert claims["sub"] == str(user.id)
    assert claims["aud"] == client.client_id
    assert claims["exp"] - claims["iat"] == app.config["ID_TOKEN_TTL"]
    assert abs(claims["iat"] - utcnow().timestamp()) < 60
    assert claims["auth_time"] == int(session.auth_time.timestamp())
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:idp:acr:pwd"
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert claims["sid"] == session.id
    assert claims["name"] == "Ada Lovelace" and isinstance(claims["updated_at"], int)
    assert claims["email"] == "ada@example.com" and claims["email_verified"] is True


def test_id_token_has_no_nonce_when_none_was_sent(rp, user, rp_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user, nonce=None)

    assert "nonce" not in verify_jwt(rp.http, tokens["id_token"]).claims


def test_profile_and_email_claims_are_released_only_for_their_scopes(rp, user, rp_client, subtests):
    client, secret = rp_client
    rp.auth.login(user.email)
    cases = [
        ("openid", set(), {"name", "updated_at", "email", "email_verified"}),
        ("openid profile", {"name", "updated_at"}, {"email", "email_verified"}),
        ("openid email", {"email", "email_verified"}, {"name", "updated_at"}),
    ]
    for scope, present, absent in cases:
        with subtests.test(scope=scope):
            tokens = rp.tokens(client, secret, scope=scope)
            claims = verify_jwt(rp.http, tokens["id_token"]).claims
            assert present <= set(claims) and not absent & set(claims)
            userinfo = rp.userinfo(tokens["access_token"]).get_json()
            assert present <= set(userinfo) and not absent & set(userinfo)


def test_without_openid_there_is_no_id_token(rp, user, rp_client):
    client, secret = rp_client

    tokens = rp.tokens(client, secret, user, scope="profile")

    assert "id_token" not in tokens and tokens["access_token"]


def test_access_token_is_an_rfc9068_jwt(app, rp, user, rp_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user)

    header = jws.extract_compact(tokens["access_token"].encode()).headers()
    claims = verify_jwt(rp.http, tokens["access_token"]).claims

    assert header["typ"] == "at+jwt"
    assert claims["iss"] == app.config["ISSUER"] and claims["aud"]
    assert claims["sub"] == str(user.id) and claims["client_id"] == client.client_id
    assert claims["scope"] == "openid profile email" and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 600


def test_a_client_without_the_refresh_grant_gets_no_refresh_token(rp, user, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["authorization_code"])

    tokens = rp.tokens(client, secret, user)

    assert "refresh_token" not in tokens
    assert count_rows(RefreshToken) == 0


def test_a_public_client_redeems_with_its_client_id_and_pkce(rp, user, create_oauth_client):
    client, secret = create_oauth_client(is_confidential=False)
    assert secret is None

    tokens = rp.tokens(client, None, user)

    assert tokens["access_token"] and tokens["refresh_token"]


def test_confidential_clients_redeem_with_their_registered_auth_method(rp, user, create_oauth_client):
    rp.auth.login(user.email)
    for method in ("client_secret_basic", "client_secret_post"):
        client, secret = create_oauth_client(token_endpoint_auth_method=method, is_first_party=True)
        issued = rp.code(client)
        assert rp.redeem(client, secret, issued, method=method).status_code == 200


def test_token_issued_audit_event_names_the_grant_but_holds_no_token(rp, user, rp_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user)

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "oauth.token_issued")).one()

    assert event.details["grant_type"] == "authorization_code"
    assert event.details["client_id"] == client.client_id
    for value in (tokens["access_token"], tokens["refresh_token"], tokens["id_token"]):
        assert value not in str(event.details)
