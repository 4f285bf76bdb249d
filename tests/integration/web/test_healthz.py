"""/healthz: 200 when the database answers, 503 (saying nothing more) when it does not."""

from __future__ import annotations

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
    assert response.get_json() == {"status": "ok", "database": "ok"}


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


def test_healthz_is_503_when_the_database_is_unreachable(unreachable_db_app, capture_app_log):
    log = capture_app_log()
    response = unreachable_db_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "error"}
    body = response.get_data(as_text=True)
    assert "secret-path" not in body and "127.0.0.1" not in body
    assert "health check failed: OperationalError" in log.getvalue()
