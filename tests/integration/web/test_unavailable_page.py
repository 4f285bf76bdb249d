"""The 503 page and its classification, on any database: what the handler does once the database is gone.

The session lookup is made to fail the way a lost PostgreSQL connection does (every time, so the
error page would fail too if it looked the signed-in person up again). tests/faults.py-based tests
in test_database_outage.py cut a real connection; these run on SQLite as well.
"""

from __future__ import annotations

import redis
from sqlalchemy.exc import DataError, OperationalError

from app.web import browser_session
from app.web.errors import is_unavailable
from tests.conftest import DEFAULT_PASSWORD
from tests.integration.web.helpers import add_user, post_form


class DriverError(Exception):
    """Shaped like a psycopg error: ``sqlstate`` is None when the client side failed (connect, lost socket)."""

    def __init__(self, sqlstate: str | None = None) -> None:
        super().__init__("connection to server at db.internal (10.0.0.5), port 5432 failed: user idp")
        self.sqlstate = sqlstate


def lost(sqlstate: str | None = None) -> OperationalError:
    return OperationalError("SELECT user_sessions.id FROM user_sessions", {}, DriverError(sqlstate))


def test_what_counts_as_unreachable():
    assert is_unavailable(lost()) and is_unavailable(lost("08006")) and is_unavailable(lost("57P01"))
    assert is_unavailable(lost("53300"))  # too many connections
    assert is_unavailable(redis.ConnectionError("refused")) and is_unavailable(redis.TimeoutError())
    assert not is_unavailable(lost("40P01"))  # a deadlock is a bug to log, not an outage
    assert not is_unavailable(DataError("INSERT", {}, DriverError("22001")))
    assert not is_unavailable(redis.ResponseError("WRONGTYPE"))
    assert not is_unavailable(RuntimeError("boom"))


def test_a_signed_in_page_gets_the_503_page_without_looking_the_person_up_again(app_factory, monkeypatch, capture_app_log):
    app = app_factory()
    log = capture_app_log()
    add_user(app, "ada@example.com")
    client = app.test_client()
    assert post_form(client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}).status_code == 303
    lookups = []

    def unreachable(*_args):
        lookups.append(1)
        raise lost()

    monkeypatch.setattr(browser_session, "find_active_session", unreachable)
    response = client.get("/account/")

    assert response.status_code == 503 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h1>Temporarily unavailable</h1>" in html and response.headers["X-Request-ID"] in html
    assert response.headers["Retry-After"] == "5"
    assert len(lookups) == 1  # the error page did not try again
    assert "Sign out" not in html and "Sign in" not in html  # no account navigation either way
    assert "db.internal" not in html and "10.0.0.5" not in log.getvalue() and "user idp" not in log.getvalue()
    assert "dependency unavailable (OperationalError/DriverError)" in log.getvalue()


def test_another_error_page_that_meets_the_outage_becomes_the_503_page(app_factory, monkeypatch, capture_app_log):
    # A 404 for a signed-in person: drawing its page loads the person, and that is what fails.
    app = app_factory()
    log = capture_app_log()
    add_user(app, "ada@example.com")
    client = app.test_client()
    assert post_form(client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}).status_code == 303

    def unreachable(*_args):
        raise lost()

    monkeypatch.setattr(browser_session, "find_active_session", unreachable)
    response = client.get("/nothing-here")
    assert response.status_code == 503 and "<h1>Temporarily unavailable</h1>" in response.get_data(as_text=True)
    assert "dependency unavailable (OperationalError/DriverError)" in log.getvalue()


def test_a_protocol_endpoint_gets_temporarily_unavailable_json(app_factory):
    app = app_factory()

    def unreachable():
        raise lost()

    app.view_functions["oauth.jwks"] = unreachable
    response = app.test_client().get("/oauth/jwks")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json() == {"error": "temporarily_unavailable", "error_description": "Temporarily unavailable."}


def test_a_postgresql_url_gets_a_connect_timeout_unless_it_has_one(monkeypatch):
    from app.config import with_connect_timeout

    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert (
        with_connect_timeout("postgresql+psycopg://idp:p%40ss@db/idp", 5)
        == "postgresql+psycopg://idp:p%40ss@db/idp?connect_timeout=5"
    )
    assert with_connect_timeout("postgresql+psycopg://idp@db/idp?connect_timeout=9", 5).endswith("?connect_timeout=9")
    assert with_connect_timeout("sqlite:////srv/idp.sqlite3", 5) == "sqlite:////srv/idp.sqlite3"
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")  # libpq's own variable wins
    assert with_connect_timeout("postgresql+psycopg://idp@db/idp", 5) == "postgresql+psycopg://idp@db/idp"
