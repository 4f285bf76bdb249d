"""The access-token deny-list kept in Redis beside its table: one round trip, and never fail open.

These need Redis (IDP_TEST_REDIS_URL); the database-only path is what every other revocation
test exercises when Redis is not configured.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import delete

from app.core.deny_list import redis_client
from app.extensions import db
from app.models import RevokedAccessToken

NOTHING_LISTENS = "redis://127.0.0.1:1/0"

pytestmark = pytest.mark.skipif(not os.environ.get("IDP_TEST_REDIS_URL"), reason="needs IDP_TEST_REDIS_URL")


@pytest.fixture
def index(app):
    return app.extensions["idp_deny_list_index"]


def active(rp, resource_server, token: str) -> bool:
    return rp.introspect(*resource_server, token).get_json()["active"]


def revoked_tokens(rp, rp_client, user, count: int = 1) -> list[str]:
    client, secret = rp_client
    rp.auth.login(user.email)
    tokens = [rp.tokens(client, secret)["access_token"] for _ in range(count)]
    for token in tokens:
        assert rp.revoke(client, secret, token).status_code == 200
    return tokens


def forget_everything(index) -> None:
    """What a Redis restart without persistence does to our keys."""
    keys = list(index.client.scan_iter(match=index.prefix + "*")) + [index.ready_key]
    index.client.delete(*keys)


def test_a_revocation_is_answered_by_redis_alone(rp, user, rp_client, resource_server, index):
    [token] = revoked_tokens(rp, rp_client, user)
    assert not active(rp, resource_server, token)  # the first check finds Redis without its marker and fills it
    # With the rows gone from the table, only Redis can still know.
    db.session.execute(delete(RevokedAccessToken))
    db.session.commit()

    assert not active(rp, resource_server, token)
    assert rp.userinfo(token).status_code == 401


def test_each_key_expires_with_its_token(rp, user, rp_client, index):
    [token] = revoked_tokens(rp, rp_client, user)
    [key] = list(index.client.scan_iter(match=index.prefix + "*"))

    ttl = index.client.ttl(key)

    assert 0 < ttl <= rp.app.config["ACCESS_TOKEN_TTL"] + 1


def test_after_redis_loses_its_data_the_list_is_copied_back_from_the_database(rp, user, rp_client, resource_server, index):
    revoked = revoked_tokens(rp, rp_client, user, count=2)
    client, secret = rp_client
    live = rp.tokens(client, secret)["access_token"]
    forget_everything(index)

    assert not active(rp, resource_server, revoked[0])
    assert index.client.get(index.ready_key) is not None
    assert len(list(index.client.scan_iter(match=index.prefix + "*"))) == 2
    assert not active(rp, resource_server, revoked[1])
    assert active(rp, resource_server, live)


def test_an_unreachable_redis_leaves_the_database_to_answer(rp, user, rp_client, resource_server, index, monkeypatch):
    [token] = revoked_tokens(rp, rp_client, user)
    client, secret = rp_client
    live = rp.tokens(client, secret)["access_token"]
    monkeypatch.setattr(index, "client", redis_client(NOTHING_LISTENS))

    assert not active(rp, resource_server, token)
    assert active(rp, resource_server, live)


def test_a_revocation_that_cannot_reach_redis_fails_and_changes_nothing(rp, user, rp_client, resource_server, index, monkeypatch):
    client, secret = rp_client
    rp.auth.login(user.email)
    token = rp.tokens(client, secret)["access_token"]
    working = index.client
    monkeypatch.setattr(index, "client", redis_client(NOTHING_LISTENS))

    response = rp.revoke(client, secret, token)

    assert response.status_code == 503  # README "When Redis or PostgreSQL is down"
    assert response.get_json()["error"] == "temporarily_unavailable" and response.headers["Retry-After"]
    assert db.session.query(RevokedAccessToken).count() == 0
    monkeypatch.setattr(index, "client", working)
    assert active(rp, resource_server, token)  # not revoked, and the client was told so
