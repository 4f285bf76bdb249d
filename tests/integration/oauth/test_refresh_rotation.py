"""Refresh tokens (RFC 6749 6, RFC 9700 4.14.2): rotated on use, reuse kills the family, bound to client and scope.

OpenID conformance module covered here: oidcc-refresh-token.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, RefreshToken
from app.models.base import utcnow
from tests.conftest import audit_types
from tests.integration.oauth.conftest import table_counts, verify_jwt


def row_of(refresh_token: str) -> RefreshToken:
    db.session.expire_all()
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    return db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == digest))


def assert_invalid(response, error: str = "invalid_grant"):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def is_active(rp, resource_server, token: str) -> bool:
    return rp.introspect(*resource_server, token).get_json()["active"]


def test_each_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(rp, rp_client, tokens, resource_server):
    client, secret = rp_client
    current = tokens
    seen = {tokens["refresh_token"]}

    for _ in range(3):
        response = rp.refresh(client, secret, current["refresh_token"])
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        new = response.get_json()
        assert new["refresh_token"] not in seen and new["access_token"] != current["access_token"]
        assert new["scope"] == "openid profile email" and new["token_type"] == "Bearer"
        assert row_of(current["refresh_token"]).used_at is not None
        seen.add(new["refresh_token"])
        current = new

    assert is_active(rp, resource_server, current["access_token"])
    assert rp.userinfo(current["access_token"]).status_code == 200
    assert len({row_of(t).family_id for t in seen}) == 1


def test_rotation_slides_the_idle_expiry_within_the_family_lifetime_and_keeps_the_sign_in(app, rp, rp_client, tokens):
    client, secret = rp_client
    original = row_of(tokens["refresh_token"])

    new = rp.refresh(client, secret, tokens["refresh_token"]).get_json()

    rotated = row_of(new["refresh_token"])
    assert original.expires_at <= rotated.expires_at
    assert rotated.expires_at <= original.issued_at + timedelta(seconds=app.config["REFRESH_TOKEN_TTL"] + 1)
    assert rotated.auth_time == original.auth_time and rotated.parent_id == original.id
    assert verify_jwt(rp.http, new["access_token"]).claims["auth_time"] == int(original.auth_time.timestamp())


def test_refresh_tokens_are_stored_only_as_digests(rp, tokens):
    row = row_of(tokens["refresh_token"])

    assert row is not None
    values = [str(getattr(row, column.key)) for column in RefreshToken.__table__.columns]
    assert not any(tokens["refresh_token"].removeprefix("rt_") in value for value in values)


def test_reusing_a_rotated_refresh_token_kills_the_whole_family(rp, user, rp_client, tokens, resource_server):
    client, secret = rp_client
    second = rp.refresh(client, secret, tokens["refresh_token"]).get_json()
    third = rp.refresh(client, secret, second["refresh_token"]).get_json()

    reuse = rp.refresh(client, secret, tokens["refresh_token"])

    assert_invalid(reuse)
    assert_invalid(rp.refresh(client, secret, third["refresh_token"]))
    for access in (tokens["access_token"], second["access_token"], third["access_token"]):
        assert not is_active(rp, resource_server, access)
        assert rp.userinfo(access).status_code == 401
    assert not is_active(rp, resource_server, third["refresh_token"])
    assert all(row.revoked_at is not None for row in db.session.scalars(select(RefreshToken)))
    assert "oauth.refresh_replayed" in audit_types(user)


def test_reuse_kills_only_its_own_family(rp, user, rp_client, tokens, resource_server):
    client, secret = rp_client
    other = rp.tokens(client, secret)  # a second sign-in of the same app: another family
    rp.refresh(client, secret, tokens["refresh_token"])

    assert_invalid(rp.refresh(client, secret, tokens["refresh_token"]))

    assert is_active(rp, resource_server, other["access_token"])
    assert rp.refresh(client, secret, other["refresh_token"]).status_code == 200


def test_scope_may_narrow_and_the_next_refresh_gets_the_original_scope_back(rp, rp_client, tokens):
    """RFC 6749 6: a narrower access token, but the new refresh token keeps the scope of the old one."""
    client, secret = rp_client

    narrowed = rp.refresh(client, secret, tokens["refresh_token"], scope="openid email")

    assert narrowed.status_code == 200
    body = narrowed.get_json()
    assert body["scope"] == "openid email"
    assert verify_jwt(rp.http, body["access_token"]).claims["scope"] == "openid email"
    assert row_of(body["refresh_token"]).scope == "openid profile email"
    again = rp.refresh(client, secret, body["refresh_token"]).get_json()
    assert again["scope"] == "openid profile email"


def test_scope_may_not_widen_and_the_token_is_not_used_up(rp, rp_client, tokens, subtests):
    client, secret = rp_client
    before = table_counts()
    for scope in ["openid profile email offline_access", "openid admin", "admin"]:
        with subtests.test(scope=scope):
            assert_invalid(rp.refresh(client, secret, tokens["refresh_token"], scope=scope), "invalid_scope")
            assert table_counts() == before
            assert row_of(tokens["refresh_token"]).used_at is None

    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200


def test_a_refresh_token_is_bound_to_its_client(rp, rp_client, tokens, create_oauth_client):
    client, secret = rp_client
    other, other_secret = create_oauth_client()
    before = table_counts()

    assert_invalid(rp.refresh(other, other_secret, tokens["refresh_token"]))

    assert table_counts() == before
    assert row_of(tokens["refresh_token"]).used_at is None
    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200


def test_a_missing_refresh_token_parameter_is_invalid_request(rp, rp_client, tokens):
    client, secret = rp_client

    assert_invalid(rp.refresh(client, secret, None), "invalid_request")


def test_an_unknown_refresh_token_is_invalid_grant(rp, rp_client, tokens, subtests):
    client, secret = rp_client
    before = table_counts()
    for value in ["rt_" + "A" * 43, "", "x" * 129, "garbage with spaces", tokens["access_token"], tokens["id_token"]]:
        with subtests.test(value=value[:20]):
            assert_invalid(rp.refresh(client, secret, value))
            assert table_counts() == before


def test_an_expired_refresh_token_is_invalid_grant(rp, rp_client, tokens):
    client, secret = rp_client
    row = row_of(tokens["refresh_token"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert_invalid(rp.refresh(client, secret, tokens["refresh_token"]))
    assert row_of(tokens["refresh_token"]).used_at is None


def test_a_revoked_refresh_token_is_invalid_grant(rp, rp_client, tokens):
    client, secret = rp_client
    row = row_of(tokens["refresh_token"])
    row.revoked_at = utcnow()
    db.session.commit()

    assert_invalid(rp.refresh(client, secret, tokens["refresh_token"]))


def test_a_disabled_or_locked_user_cannot_refresh(rp, user, rp_client, subtests):
    client, secret = rp_client
    rp.auth.login(user.email)
    for state in ("disabled", "locked"):
        with subtests.test(state=state):
            tokens = rp.tokens(client, secret)
            if state == "disabled":
                user.is_disabled = True
            else:
                user.locked_until = utcnow() + timedelta(minutes=5)
            db.session.commit()
            issued_before = audit_types(user).count("oauth.token_issued")

            assert_invalid(rp.refresh(client, secret, tokens["refresh_token"]))
            assert audit_types(user).count("oauth.token_issued") == issued_before
            assert row_of(tokens["refresh_token"]).used_at is None
            user.is_disabled, user.locked_until = False, None
            db.session.commit()


def test_a_public_client_refreshes_with_its_client_id(rp, user, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False)
    tokens = rp.tokens(client, None, user)

    response = rp.refresh(client, None, tokens["refresh_token"])

    assert response.status_code == 200 and response.get_json()["refresh_token"] != tokens["refresh_token"]


def test_a_confidential_client_must_authenticate_to_refresh(rp, rp_client, tokens):
    client, _ = rp_client

    response = rp.refresh(client, None, tokens["refresh_token"])

    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert row_of(tokens["refresh_token"]).used_at is None


def test_a_client_without_the_refresh_grant_cannot_refresh(rp, user, create_oauth_client, rp_client, tokens):
    client, secret = rp_client
    client.grant_types = ["authorization_code"]
    db.session.commit()
    from app.core.client_cache import client_cache

    client_cache().invalidate(client.client_id)

    assert_invalid(rp.refresh(client, secret, tokens["refresh_token"]), "unauthorized_client")


def test_each_refresh_is_audited_without_the_token(rp, user, rp_client, tokens):
    client, secret = rp_client
    new = rp.refresh(client, secret, tokens["refresh_token"]).get_json()

    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oauth.token_issued").order_by(AuditEvent.id.desc())
    ).first()
    assert event.details["grant_type"] == "refresh_token"
    assert new["refresh_token"] not in str(event.details) and tokens["refresh_token"] not in str(event.details)


def test_refresh_token_expires_when_unused_for_the_idle_lifetime(app, rp, rp_client, tokens):
    client, secret = rp_client
    row = row_of(tokens["refresh_token"])
    assert row.expires_at - row.issued_at <= timedelta(seconds=app.config["REFRESH_TOKEN_IDLE_TTL"] + 1)
    row.expires_at = utcnow() - timedelta(seconds=1)  # left unused past its idle lifetime
    db.session.commit()
    assert_invalid(rp.refresh(client, secret, tokens["refresh_token"]))


def test_rotation_never_extends_a_family_past_its_absolute_lifetime(app, rp, rp_client, tokens):
    client, secret = rp_client
    first = row_of(tokens["refresh_token"])
    family_start = utcnow() - timedelta(seconds=app.config["REFRESH_TOKEN_TTL"] - 60)  # family nearly over
    first.issued_at = family_start
    db.session.commit()
    response = rp.refresh(client, secret, tokens["refresh_token"])
    assert response.status_code == 200
    child = row_of(response.get_json()["refresh_token"])
    assert child.expires_at <= family_start + timedelta(seconds=app.config["REFRESH_TOKEN_TTL"] + 1)
    assert child.expires_at - utcnow() < timedelta(seconds=120)
