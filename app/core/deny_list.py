"""The access-token deny-list: revoked `jti`s until their tokens would have expired.

The database table is the record. Every introspection and userinfo call asks "is this jti
denied?", which against the database costs a pool checkout with its ping, BEGIN, SELECT and
ROLLBACK. With `IDP_REDIS_URL` set, the same facts are also kept in Redis, where one round trip
answers, and each key expires with its token.

Consistency rules (fail closed):
- A jti is written to Redis *before* its row is committed. If the Redis write fails, the request
  fails and the transaction rolls back; a Redis key whose row then never commits only denies a
  token that someone was trying to revoke anyway.
- Redis may lose everything (a restart without persistence). A marker key says "this Redis holds
  the whole list"; when it is missing, the list is copied from the database before answering.
- When Redis cannot be reached for a check, the database answers; for the next few seconds the
  checks go straight to the database instead of waiting on Redis again (a warning says so once per
  outage). A revocation still needs Redis, and fails while it is down (README "When Redis or
  PostgreSQL is down"), so Redis never misses one and needs no repair afterwards.
The one gap left: a revocation whose Redis write lands just before Redis loses its data, and
whose row commits only after another process has copied the list over, is missing from Redis.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select

from app.core.inserts import insert_ignoring_duplicates
from app.extensions import db
from app.metrics import DEPENDENCY_ERRORS, count
from app.models import RevokedAccessToken
from app.models.base import utcnow

log = logging.getLogger(__name__)

_TABLE = RevokedAccessToken.__table__


class DenyListIndex:
    """Redis copy of the deny-list for one app (one key per jti, expiring with its token)."""

    RETRY_SECONDS = 5.0  # after a failed check, how long the database answers alone

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.ready_key = f"{prefix}:deny:ready"
        self.prefix = f"{prefix}:deny:jti:"
        self.unreachable = False
        self.retry_at = 0.0  # time.monotonic(); before it, checks skip Redis

    def add(self, jti: str, expires_at: datetime) -> None:
        self.client.set(self.prefix + jti, b"1", exat=int(expires_at.timestamp()) + 1)

    def contains(self, jti: str) -> bool | None:
        """True/False from Redis; None when Redis does not hold the whole list (yet)."""
        ready, denied = self.client.mget(self.ready_key, self.prefix + jti)
        if ready is None:
            return None
        return denied is not None

    def load(self, rows: list[tuple[str, datetime]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for jti, expires_at in rows:
            pipe.set(self.prefix + jti, b"1", exat=int(expires_at.timestamp()) + 1)
        pipe.set(self.ready_key, b"1")
        pipe.execute()


def _index() -> DenyListIndex | None:
    return current_app.extensions.get("idp_deny_list_index")


def deny(jti: str, expires_at: datetime) -> None:
    """Record a revoked jti in the caller's transaction (and first in Redis, when configured).

    Idempotent: INSERT ... ON CONFLICT DO NOTHING, so parallel revocations of the same token (replay
    racers, a double revoke) neither fail on the primary key nor need a savepoint.
    """
    index = _index()
    if index is not None:
        index.add(jti, expires_at)
    insert_ignoring_duplicates(_TABLE, {"jti": jti, "expires_at": expires_at, "revoked_at": utcnow()}, [_TABLE.c.jti])


def is_denied(jti: str) -> bool:
    index = _index()
    if index is not None and time.monotonic() >= index.retry_at:
        try:
            answer = index.contains(jti)
        except redis.RedisError:
            count(DEPENDENCY_ERRORS, dependency="redis")
            if not index.unreachable:
                log.warning("deny-list: Redis unreachable, the database answers until it is back")
            index.unreachable, index.retry_at = True, time.monotonic() + index.RETRY_SECONDS
        else:
            if index.unreachable:
                index.unreachable = False
                log.info("deny-list: Redis answers again")
            return _rebuild_index(index, jti) if answer is None else answer
    return _in_database(jti)


def _in_database(jti: str) -> bool:
    # A Core SELECT skips the ORM's per-statement work. Flushing first keeps the ORM's autoflush:
    # a jti denied earlier in the same request still counts.
    if db.session.new:
        db.session.flush()
    return db.session.execute(select(_TABLE.c.jti).where(_TABLE.c.jti == jti)).first() is not None


def _rebuild_index(index: DenyListIndex, jti: str) -> bool:
    if db.session.new:
        db.session.flush()
    rows = db.session.execute(select(_TABLE.c.jti, _TABLE.c.expires_at).where(_TABLE.c.expires_at > utcnow())).all()
    index.load([(row.jti, row.expires_at) for row in rows])
    log.info("deny-list: copied %d live entries to Redis", len(rows))
    return any(row.jti == jti for row in rows)


def redis_client(url: str) -> redis.Redis:
    # Fail fast: a check that cannot reach Redis has the database to ask, and a revocation that
    # cannot write should fail now rather than after redis-py's default backoff of seconds.
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), retries=1))


def redis_answers() -> bool | None:
    """Whether this app's Redis answers a PING now (within the client's short timeouts); None without Redis."""
    index = _index()
    if index is None:
        return None
    try:
        return bool(index.client.ping())
    except redis.RedisError:
        return False


def init_deny_list(app: Flask) -> None:
    if app.config.get("REDIS_URL"):
        index = DenyListIndex(redis_client(app.config["REDIS_URL"]), app.config["REDIS_KEY_PREFIX"])
        app.extensions["idp_deny_list_index"] = index
