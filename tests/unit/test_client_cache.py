"""The per-process client cache: a change made in one process reaches the others through Redis's generation
number, not only when the cache's time limit runs out."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from app.core.client_cache import ClientCache
from app.core.deny_list import redis_client
from app.extensions import db
from app.models import OAuthClient


@pytest.fixture
def shared() -> Iterator[tuple[redis.Redis, str]]:
    url = os.environ.get("IDP_TEST_REDIS_URL")
    if not url:
        pytest.skip("needs Redis (set IDP_TEST_REDIS_URL)")
    connection = redis.Redis.from_url(url)
    key = f"test-{uuid.uuid4().hex}:clients:generation"
    yield connection, key
    connection.delete(key)
    connection.close()


@pytest.fixture
def client_row(app) -> OAuthClient:
    row = OAuthClient(client_id="cache-test", name="Cache Test", redirect_uris=[], grant_types=[], response_types=[])
    db.session.add(row)
    db.session.commit()
    return row


def disable(client_id: str) -> None:
    """Another process's change, committed."""
    db.session.get(
        OAuthClient, db.session.scalar(db.select(OAuthClient.id).where(OAuthClient.client_id == client_id))
    ).is_disabled = True
    db.session.commit()


def test_a_change_in_one_process_empties_the_others_at_their_next_check(app, client_row, shared, monkeypatch) -> None:
    monkeypatch.setattr(ClientCache, "GENERATION_CHECK_SECONDS", 0.0)  # check on every lookup, for the test
    here, elsewhere = ClientCache(*shared), ClientCache(*shared)
    assert here.get("cache-test").is_disabled is False

    disable("cache-test")
    elsewhere.invalidate("cache-test")

    assert here.get("cache-test").is_disabled is True


def test_without_redis_another_process_keeps_its_copy_until_the_time_limit(app, client_row) -> None:
    here, elsewhere = ClientCache(), ClientCache()
    assert here.get("cache-test").is_disabled is False
    disable("cache-test")
    elsewhere.invalidate("cache-test")
    assert here.get("cache-test").is_disabled is False  # CLIENT_CACHE_SECONDS bounds this
    here.invalidate("cache-test")
    assert here.get("cache-test").is_disabled is True


def test_an_unreachable_redis_leaves_lookups_and_changes_working(app, client_row, monkeypatch) -> None:
    monkeypatch.setattr(ClientCache, "GENERATION_CHECK_SECONDS", 0.0)
    nowhere = redis_client("redis://127.0.0.1:1/0")  # the app's fail-fast settings; nothing listens on port 1
    cache = ClientCache(nowhere, "unreachable:clients:generation")
    assert cache.get("cache-test").client_id == "cache-test"
    cache.invalidate("cache-test")  # logged, not raised: the commit already happened
    assert cache.get("cache-test").client_id == "cache-test"
