"""/healthz: alive whatever the dependencies do; /readyz: 200 when the database (and Redis) answer, else a 503 naming it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask

from app import config as app_config
from app import create_app
from app.extensions import db, limiter
from tests.mailbox import free_port


def test_healthz_is_ok_when_the_database_answers(test_client):
    response = test_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_exempt_from_rate_limits(limited_app, monkeypatch):
    # Default limits stick to the process-wide Limiter once set: keep this one to this test.
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", [])
    app = limited_app(RATELIMIT_DEFAULT="1 per minute")
    assert [app.test_client().get("/login").status_code for _ in range(2)] == [200, 429]  # the default bites
    client = app.test_client()
    assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 200]


@pytest.fixture(
    params=[
        pytest.param("sqlite:////nonexistent-idp-dir/secret-path/idp.sqlite3", id="sqlite-missing-directory"),
        pytest.param(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/idp", id="postgresql-closed-port"),
    ]
)
def unreachable_db_app(request) -> Iterator[Flask]:
    # Not app_factory: it would try to prepare the (unreachable) database.
    app = create_app(app_config.TestConfig(SQLALCHEMY_DATABASE_URI=request.param))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_healthz_stays_alive_while_the_database_is_unreachable(unreachable_db_app):
    """A liveness probe failing on a database outage would have every instance restarted, curing nothing."""
    response = unreachable_db_app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


# /readyz: the database, plus Redis when one is configured; a 503 names what is down.

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")


def test_readyz_is_ready_when_the_database_answers_and_names_redis_when_there_is_none(app_factory):
    app = app_factory(REDIS_URL=None)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "database": "ok", "redis": "not configured"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.skipif(not REDIS_URL, reason="needs IDP_TEST_REDIS_URL")
def test_readyz_is_ready_when_the_database_and_redis_answer(app_factory):
    response = app_factory(REDIS_URL=REDIS_URL).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "database": "ok", "redis": "ok"}


def test_readyz_is_503_naming_redis_when_redis_is_unreachable(app_factory, capture_app_log):
    app = app_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    log = capture_app_log()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json() == {"status": "unavailable", "database": "ok", "redis": "error"}
    assert "not ready: redis" in log.getvalue()


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(unreachable_db_app):
    response = unreachable_db_app.test_client().get("/readyz")
    assert response.status_code == 503
    expected_redis = "ok" if REDIS_URL else "not configured"  # the test config uses Redis when the run has one
    assert response.get_json() == {"status": "unavailable", "database": "error", "redis": expected_redis}
    body = response.get_data(as_text=True)
    assert "secret-path" not in body and "127.0.0.1" not in body


def test_readyz_logs_the_database_error_by_type_only(unreachable_db_app, capture_app_log):
    log = capture_app_log()
    unreachable_db_app.test_client().get("/readyz")
    assert "health check failed: OperationalError" in log.getvalue()
    assert "secret-path" not in log.getvalue()


def test_readyz_is_exempt_from_rate_limits(limited_app, monkeypatch):
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", [])
    client = limited_app(RATELIMIT_DEFAULT="1 per minute").test_client()
    assert [client.get("/readyz").status_code for _ in range(3)] == [200, 200, 200]
