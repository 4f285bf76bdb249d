"""Shared fixtures: the app with a clean database per test, a real SMTP server, factories and helpers."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import delete, event, select

from app import create_app
from app.config import TestConfig
from app.extensions import db, limiter
from app.models import AuditEvent, User
from app.models.base import utcnow
from app.security import hash_password
from app.web.i18n import format_time
from tests import run_database
from tests.mailbox import Mailbox, SmtpServer

# Loopback GitHub, Discord and a second IdP for the social sign-in tests (fixtures fake_social, upstream_idp).
pytest_plugins = ["tests.upstreams"]


def pytest_configure(config: pytest.Config) -> None:
    run_database.start()  # before any app is built: every TestConfig reads the run's own database


def pytest_unconfigure(config: pytest.Config) -> None:
    run_database.finish()


DEFAULT_PASSWORD = "correct horse battery staple"
CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


class RequestIsolatedClient(FlaskClient):
    """Runs every request in its own app context, as a real server does.

    The shared ``app`` fixture keeps one app context pushed for the whole test, and Flask
    reuses a pushed context for requests. Then ``g`` (where Flask-Login caches the signed-in
    user) and the request's database session would live on from one request to the next: a
    fresh client without cookies would appear signed in, and uncommitted writes of a failed
    request would look saved. A context per request ends both, and its teardown rolls back.
    """

    def open(self, *args, **kwargs):
        # buffered: a streamed body (the audit export) is read while its context is still the current one.
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            return super().open(*args, **kwargs)


class SharedBytecodeCache(BytecodeCache):
    """Compiled templates kept for the whole run; every test builds a new app, which would recompile them all."""

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        stored = self._compiled.get(bucket.key)
        if stored is not None and stored[0] == bucket.checksum:  # the checksum is of the template source
            bucket.code = stored[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = (bucket.checksum, bucket.code)


_TEMPLATES = SharedBytecodeCache()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Mailbox:
    smtp_server.mailbox.clear()
    return smtp_server.mailbox


def make_config(smtp_port: int, **overrides: object) -> TestConfig:
    base = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_SECURITY": "none",
        # A fresh Redis namespace per app, so counters and deny-lists never leak between tests.
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "REDIS_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    base.update(overrides)
    return TestConfig(**base)


@pytest.fixture(scope="session")
def _schema(smtp_server: SmtpServer) -> Iterator[None]:
    """Create the tables once per run (in-memory SQLite is per app, handled in ``app``)."""
    if not os.environ.get("IDP_TEST_DATABASE_URL"):
        yield
        return
    app = create_app(make_config(smtp_server.port))
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def _empty_all_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.commit()


@pytest.fixture
def app_factory(smtp_server: SmtpServer, _schema: None) -> Iterator[Callable[..., Flask]]:
    """Build apps with config overrides; each starts on an empty database."""
    built: list[Flask] = []

    def build(**overrides: object) -> Flask:
        # Flask-Limiter's Limiter is process-wide and keeps the first key prefix it saw; clear it so
        # this app's own prefix applies and counters in a shared Redis never meet another test's.
        limiter._key_prefix = None
        app = create_app(make_config(smtp_server.port, **overrides))
        app.test_client_class = RequestIsolatedClient
        app.jinja_env.bytecode_cache = _TEMPLATES
        with app.app_context():
            if os.environ.get("IDP_TEST_DATABASE_URL"):
                _empty_all_tables()
            else:
                db.create_all()
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            if os.environ.get("IDP_TEST_DATABASE_URL"):
                db.session.remove()
                _empty_all_tables()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    app = app_factory()
    with app.app_context():
        yield app


@pytest.fixture
def test_client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_from(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


@pytest.fixture
def create_user(app: Flask) -> Callable[..., User]:
    """Factory: create_user(email=..., password=..., verified=True, **columns) -> User; password=None: none set."""
    counter = iter(range(1, 10_000))

    def create(
        email: str | None = None, password: str | None = DEFAULT_PASSWORD, verified: bool = True, **columns: object
    ) -> User:
        user = User(
            email=email or f"user{next(counter)}@example.com",
            password_hash=None if password is None else hash_password(password),
            email_verified_at=utcnow() if verified else None,
            **columns,
        )
        db.session.add(user)
        db.session.commit()
        return user

    return create


class AuthActions:
    """Sign in and out through the real pages, CSRF token included."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def login(self, email: str, password: str = DEFAULT_PASSWORD, next_url: str | None = None):
        data = {"csrf_token": self.csrf(), "email": email, "password": password}
        if next_url is not None:
            data["next"] = next_url
        return self.client.post("/login", data=data)

    def logout(self):
        token = self.csrf("/account/")
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(test_client: FlaskClient) -> AuthActions:
    return AuthActions(test_client)


def audit_types(user: User | None = None) -> list[str]:
    """Event types in order, optionally only those about one user."""
    query = select(AuditEvent.event_type).order_by(AuditEvent.id)
    if user is not None:
        query = query.where(AuditEvent.subject_user_id == user.id)
    return list(db.session.scalars(query))


@pytest.fixture
def capture_app_log() -> Iterator[Callable[[], io.StringIO]]:
    """Call after building the app: the app's real handler (formatter, request-id filter) writes to the buffer."""
    swapped: list[logging.StreamHandler] = []

    def capture() -> io.StringIO:
        handler = logging.getLogger("app").handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        buffer = io.StringIO()
        handler.setStream(buffer)
        swapped.append(handler)
        return buffer

    yield capture
    for handler in swapped:
        handler.setStream(sys.stderr)


@contextmanager
def statements_recorded(*verbs: str) -> Iterator[list[str]]:
    """Collect every SQL statement the app sends (only those starting with one of `verbs`, when given)."""
    statements: list[str] = []
    wanted = {verb.upper() for verb in verbs}

    def record(_conn, _cursor, statement, *_args) -> None:
        if not wanted or statement.lstrip().split(" ", 1)[0].upper() in wanted:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def shown_time(app: Flask, value: datetime) -> str:
    """A time as a page shows it to someone with no profile language or zone: English, UTC, the zone named."""
    with app.test_request_context(), force_locale("en"):
        return format_time(value)
