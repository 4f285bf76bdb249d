"""Revocation (RFC 7009): access tokens via the jti deny-list, refresh tokens with their whole family."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, RefreshToken, RevokedAccessToken
from tests.conftest import audit_types
from tests.integration.oauth.conftest import count_rows, table_counts


def active(rp, resource_server, token: str) -> bool:
    return rp.introspect(*resource_server, token).get_json()["active"]


def assert_ok(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_revoked_access_token_is_dead_everywhere_whatever_the_hint(rp, user, rp_client, resource_server, subtests):
    client, secret = rp_client
    rp.auth.login(user.email)
    for number, hint in enumerate([None, "access_token", "refresh_token", "made_up"], start=1):
        with subtests.test(hint=hint):
            tokens = rp.tokens(client, secret)

            assert_ok(rp.revoke(client, secret, tokens["access_token"], token_type_hint=hint))

            assert not active(rp, resource_server, tokens["access_token"])
            assert rp.userinfo(tokens["access_token"]).status_code == 401
            assert count_rows(RevokedAccessToken) == number
            event = db.session.scalars(
                select(AuditEvent).where(AuditEvent.event_type == "oauth.token_revoked").order_by(AuditEvent.id.desc())
            ).first()
            assert event.details["kind"] == "access" and tokens["access_token"] not in str(event.details)


def test_revoking_an_access_token_leaves_its_refresh_token_usable(rp, rp_client, tokens):
    client, secret = rp_client
    rp.revoke(client, secret, tokens["access_token"])

    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200


def test_a_revoked_refresh_token_kills_its_family_and_their_access_tokens(rp, user, rp_client, resource_server, subtests):
    client, secret = rp_client
    rp.auth.login(user.email)
    for hint in [None, "refresh_token", "access_token", "made_up"]:
        with subtests.test(hint=hint):
            tokens = rp.tokens(client, secret)
            newer = rp.refresh(client, secret, tokens["refresh_token"]).get_json()

            assert_ok(rp.revoke(client, secret, newer["refresh_token"], token_type_hint=hint))

            assert rp.refresh(client, secret, newer["refresh_token"]).get_json()["error"] == "invalid_grant"
            for access in (tokens["access_token"], newer["access_token"]):
                assert not active(rp, resource_server, access)
                assert rp.userinfo(access).status_code == 401
            assert all(row.revoked_at is not None for row in db.session.scalars(select(RefreshToken)))
            assert audit_types(user)[-1] == "oauth.token_revoked"


def test_revoking_a_refresh_token_leaves_other_families_alone(rp, rp_client, tokens, resource_server):
    client, secret = rp_client
    other = rp.tokens(client, secret)

    rp.revoke(client, secret, tokens["refresh_token"])

    assert active(rp, resource_server, other["access_token"])
    assert rp.refresh(client, secret, other["refresh_token"]).status_code == 200


def test_an_unknown_token_is_200_and_changes_nothing(rp, rp_client, tokens, subtests):
    client, secret = rp_client
    before = table_counts()
    for token in ["rt_" + "A" * 43, "garbage", "a.b.c", "x" * 5000, ""]:
        with subtests.test(token=token[:20]):
            assert_ok(rp.revoke(client, secret, token))
            assert table_counts() == before


def test_an_id_token_is_not_revocable_and_changes_nothing(rp, rp_client, tokens, resource_server):
    client, secret = rp_client
    before = table_counts()

    assert_ok(rp.revoke(client, secret, tokens["id_token"]))

    assert table_counts() == before
    assert active(rp, resource_server, tokens["access_token"])


def test_another_clients_token_is_200_and_nothing_is_revoked(rp, rp_client, tokens, create_oauth_client, resource_server):
    client, secret = rp_client
    other, other_secret = create_oauth_client()
    before = table_counts()

    for kind in ("access_token", "refresh_token"):
        assert_ok(rp.revoke(other, other_secret, tokens[kind]))

    assert table_counts() == before
    assert active(rp, resource_server, tokens["access_token"])
    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200


def test_a_missing_token_parameter_is_invalid_request(rp, rp_client):
    client, secret = rp_client

    response = rp.revoke(client, secret, None)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_revocation_needs_client_authentication_and_post_and_otherwise_revokes_nothing(
    rp, rp_client, tokens, resource_server, subtests
):
    client, secret = rp_client
    before = table_counts()
    token = {"token": tokens["refresh_token"]}
    attempts = {
        "no-credentials": lambda: rp.http.post("/oauth/revoke", data=token),  # the session cookie is no credential
        "client-id-only": lambda: rp.revoke(client, None, tokens["refresh_token"]),
        "wrong-secret": lambda: rp.revoke(client, "cs_wrong", tokens["refresh_token"]),
        "unknown-client": lambda: rp.http.post("/oauth/revoke", data=token, auth=("nobody", secret)),
    }
    for name, attempt in attempts.items():
        with subtests.test(name):
            response = attempt()
            assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"
            assert table_counts() == before
    with subtests.test("get"):
        response = rp.http.get("/oauth/revoke", query_string=token, auth=(client.client_id, secret))
        assert response.status_code == 405
        assert table_counts() == before

    assert active(rp, resource_server, tokens["access_token"])
    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200


def test_a_public_client_revokes_its_own_refresh_token_with_its_client_id(rp, user, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False)
    tokens = rp.tokens(client, None, user)

    assert_ok(rp.revoke(client, None, tokens["refresh_token"]))

    assert rp.refresh(client, None, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoking_twice_is_still_200(rp, rp_client, tokens):
    client, secret = rp_client
    assert_ok(rp.revoke(client, secret, tokens["refresh_token"]))
    assert_ok(rp.revoke(client, secret, tokens["refresh_token"]))
    assert_ok(rp.revoke(client, secret, tokens["access_token"]))
    assert_ok(rp.revoke(client, secret, tokens["access_token"]))

    assert count_rows(RevokedAccessToken) == 1
