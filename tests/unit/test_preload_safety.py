"""gunicorn preloads the app and forks the workers from it (gunicorn.conf.py), so the factory must not open a
database or Redis connection: one made before the fork would be shared by every worker."""

from __future__ import annotations

import socket

from sqlalchemy import event, text
from sqlalchemy.pool import Pool

from app import create_app
from app.config import TestConfig as SuiteConfig
from app.extensions import db


def test_the_factory_opens_no_database_or_redis_connection(monkeypatch):
    pool_connects = []
    sockets = []

    def record_pool_connect(*_args) -> None:
        pool_connects.append(1)

    def refuse(sock, address):
        sockets.append(address)
        raise OSError("no network in the factory")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    event.listen(Pool, "connect", record_pool_connect)
    try:
        app = create_app(SuiteConfig(REDIS_URL="redis://127.0.0.1:6379/0", RATELIMIT_ENABLED=True))
        assert pool_connects == [] and sockets == []

        with app.app_context():
            db.session.execute(text("SELECT 1"))  # the first query is where a connection is made: the check sees it
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
        assert pool_connects == [1]
    finally:
        event.remove(Pool, "connect", record_pool_connect)
