"""Alembic migrations: up, down and up again on a fresh database, and the result matches the models."""

from __future__ import annotations

import logging.config
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app import config as app_config
from app import create_app
from app.config import PROJECT_ROOT
from app.extensions import db
from app.models import User

MIGRATIONS = str(PROJECT_ROOT / "migrations")
EXPRESSION_INDEX = "uq_user_email_lower"
APP_TABLES = {"user", "user_session", "email_token", "audit_event"}


def _sqlite_url(tmp_path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"


def _postgresql_url() -> Iterator[str]:
    base = os.environ.get("IDP_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("needs IDP_TEST_DATABASE_URL pointing at PostgreSQL")
    # Its own database: the shared test database is in use by every other test.
    name = f"idp_migrations_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_app(request, tmp_path, monkeypatch) -> Iterator[Flask]:
    """An app on an empty database that only migrations will shape."""
    # migrations/env.py calls fileConfig(), which would disable the app's loggers for the rest of the run.
    monkeypatch.setattr(logging.config, "fileConfig", lambda *args, **kwargs: None)
    urls = _sqlite_url(tmp_path) if request.param == "sqlite" else _postgresql_url()
    url = next(urls)
    app = create_app(app_config.TestConfig(SQLALCHEMY_DATABASE_URI=url))
    try:
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        urls.close()


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)

    def is_expression_index(diff) -> bool:
        # Autogenerate cannot reflect lower(email); that index gets its own test below.
        return diff[0] in {"add_index", "remove_index"} and diff[1].name == EXPRESSION_INDEX

    return [diff for diff in diffs if not is_expression_index(diff)]


def expression_index_sql() -> str:
    if db.engine.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    with db.engine.connect() as connection:
        return connection.execute(sa.text(query), {"name": EXPRESSION_INDEX}).scalar_one()


# SQLite cannot reflect expression indexes; alembic and SQLAlchemy say so, and the index has its own test.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_upgrade_downgrade_upgrade_leaves_a_schema_identical_to_the_models(fresh_app):
    assert not table_names() & APP_TABLES

    upgrade(directory=MIGRATIONS, revision="head")
    assert APP_TABLES <= table_names()
    assert schema_differences() == []

    downgrade(directory=MIGRATIONS, revision="base")
    assert not table_names() & APP_TABLES

    upgrade(directory=MIGRATIONS, revision="head")
    assert schema_differences() == []


def test_the_migrated_schema_refuses_the_same_email_in_another_case(fresh_app):
    upgrade(directory=MIGRATIONS, revision="head")
    assert "lower(" in expression_index_sql().lower() and "unique" in expression_index_sql().lower()

    db.session.add(User(email="Ada@Example.com", password_hash=None))
    db.session.commit()
    db.session.add(User(email="ada@example.COM", password_hash=None))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(User(email="grace@example.com", password_hash=None))
    db.session.commit()


def test_rebuilding_the_user_table_keeps_every_row_that_points_at_it(fresh_app):
    """0006 copies "user" on SQLite; with foreign keys enforced the old table's DROP would cascade."""
    upgrade(directory=MIGRATIONS, revision="0005")
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                'INSERT INTO "user" (email, display_name, is_disabled, is_admin, failed_login_count, created_at, updated_at)'
                " VALUES ('ada@example.com', 'Ada', false, false, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        ada = connection.execute(sa.text('SELECT id FROM "user"')).scalar_one()
        connection.execute(
            sa.text(
                "INSERT INTO user_session"
                " (id, token_digest, user_id, created_at, last_seen_at, ip_address, user_agent, auth_time, amr)"
                " VALUES ('s1', 'digest', :ada, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', '', CURRENT_TIMESTAMP, '[\"pwd\"]')"
            ),
            {"ada": ada},
        )

    upgrade(directory=MIGRATIONS, revision="head")

    with db.engine.begin() as connection:
        assert connection.execute(sa.text("SELECT user_id FROM user_session")).scalars().all() == [ada]
        assert "lower(" in expression_index_sql().lower() and "email" in expression_index_sql()
        # A deleted account's id (its OIDC sub) is never handed out again.
        connection.execute(sa.text("DELETE FROM user_session"))
        connection.execute(sa.text('DELETE FROM "user" WHERE id = :ada'), {"ada": ada})
        connection.execute(
            sa.text(
                'INSERT INTO "user" (email, display_name, is_disabled, is_admin, failed_login_count, created_at, updated_at,'
                " given_name, family_name, locale, zoneinfo)"
                " VALUES ('bob@example.com', 'Bob', false, false, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', '', '', '')"
            )
        )
        assert connection.execute(sa.text('SELECT id FROM "user"')).scalar_one() > ada


def _tables_at_0008() -> dict[str, sa.TableClause]:
    """The tables 0009 backfills from, as they are at 0008: only the columns the inserts below fill."""
    text, number, when, flag, data = sa.String(), sa.Integer(), sa.DateTime(), sa.Boolean(), sa.JSON()
    columns = {
        "user": {"id": number, "email": text, "display_name": text, "is_disabled": flag, "is_admin": flag},
        "oauth_client": {"id": number, "client_id": text, "name": text, "is_confidential": flag, "scope": text},
        "oauth_authorization_code": {"code_digest": text, "redirect_uri": text, "used_at": when},
        "oauth_refresh_token": {"token_digest": text, "family_id": text, "issued_at": when},
        "audit_event": {"created_at": when, "event_type": text, "subject_user_id": number, "details": data},
    }
    columns["user"].update(failed_login_count=number, created_at=when, updated_at=when)
    columns["oauth_client"].update(
        {name: data for name in ("redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types")},
        token_endpoint_auth_method=text,
        is_first_party=flag,
        is_disabled=flag,
        allow_plain_code_flow=flag,
        is_dynamically_registered=flag,
        created_at=when,
    )
    for token_table in ("oauth_authorization_code", "oauth_refresh_token"):
        columns[token_table].update(
            client_id=number,
            user_id=number,
            session_id=text,
            scope=text,
            auth_time=when,
            amr=data,
            created_at=when,
            expires_at=when,
            access_token_jti=text,
            access_token_expires_at=when,
        )
    del columns["oauth_refresh_token"]["created_at"]
    return {name: sa.table(name, *(sa.column(c, type_) for c, type_ in cols.items())) for name, cols in columns.items()}


def test_live_access_tokens_are_backfilled_from_codes_refresh_tokens_and_recent_issuance_events(fresh_app):
    """0009: each person's access token that may still be live gets a row, so a later "revoke everything" reaches it."""
    upgrade(directory=MIGRATIONS, revision="0008")
    tables = _tables_at_0008()
    now = datetime.now(UTC).replace(tzinfo=None)  # the columns hold naive UTC
    soon, past = now + timedelta(minutes=5), now - timedelta(minutes=1)
    ada, gone, photos = 1, 2, 7
    grant = {"client_id": photos, "scope": "openid", "auth_time": now, "amr": ["pwd"]}
    with db.engine.begin() as connection:

        def add(table: str, **values) -> None:
            connection.execute(sa.insert(tables[table]), values)

        def code(n: int, jti: str, expires_at: datetime, user_id: int = ada) -> None:
            add(
                "oauth_authorization_code",
                **grant,
                code_digest=f"c{n}",
                user_id=user_id,
                session_id=f"code-session-{n}",
                redirect_uri="https://rp.example/cb",
                created_at=now - timedelta(minutes=2),
                expires_at=now,
                used_at=now - timedelta(minutes=1),
                access_token_jti=jti,
                access_token_expires_at=expires_at,
            )

        def refresh(n: int, jti: str, expires_at: datetime) -> None:
            add(
                "oauth_refresh_token",
                **grant,
                token_digest=f"r{n}",
                family_id=f"f{n}",
                user_id=ada,
                session_id=f"refresh-session-{n}",
                issued_at=now - timedelta(minutes=3),
                expires_at=now + timedelta(days=1),
                access_token_jti=jti,
                access_token_expires_at=expires_at,
            )

        def issued(jti: str | None, minutes_ago: int, user_id: int = ada, client_id: str = "photo-app") -> None:
            details = {"client_id": client_id, "grant_type": "authorization_code", "refresh": False}
            add(
                "audit_event",
                event_type="oauth.token_issued",
                subject_user_id=user_id,
                created_at=now - timedelta(minutes=minutes_ago),
                details=details if jti is None else {**details, "jti": jti},
            )

        for user_id in (ada, gone):
            person = {"email": f"{user_id}@example.com", "display_name": "", "is_disabled": False, "is_admin": False}
            add("user", id=user_id, **person, failed_login_count=0, created_at=now, updated_at=now)
        lists = {name: [] for name in ("redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types")}
        flags = {name: False for name in ("is_first_party", "is_disabled", "allow_plain_code_flow", "is_dynamically_registered")}
        client = {"client_id": "photo-app", "name": "Photos", "is_confidential": True, "scope": "", **lists, **flags}
        add("oauth_client", id=photos, **client, token_endpoint_auth_method="client_secret_basic", created_at=now)
        code(1, "code-live", soon)
        code(2, "code-expired", past)
        code(3, "gone-user-code", soon, user_id=gone)
        refresh(1, "refresh-live", soon)
        refresh(2, "refresh-expired", past)
        code(4, "code-and-refresh", soon)  # a code exchange with a refresh token names its access token twice
        refresh(3, "code-and-refresh", soon)
        issued("device-live", minutes_ago=5)  # a device token without a refresh token: only the audit log names it
        issued("code-live", minutes_ago=1)  # named by its code too: one row, with the code's exact expiry and session
        issued("device-expired", minutes_ago=61)
        issued("gone-user-device", minutes_ago=5, user_id=gone)
        issued("unknown-client", minutes_ago=5, client_id="deleted-app")
        issued(None, minutes_ago=5)
        add("audit_event", event_type="auth.login_succeeded", subject_user_id=ada, created_at=now, details={"jti": "no-token"})
        # The person "gone" deletes their account: their rows go, their events stay without a subject.
        codes, events, users = tables["oauth_authorization_code"], tables["audit_event"], tables["user"]
        connection.execute(sa.delete(codes).where(codes.c.user_id == gone))
        connection.execute(sa.update(events).where(events.c.subject_user_id == gone).values(subject_user_id=None))
        connection.execute(sa.delete(users).where(users.c.id == gone))

    upgrade(directory=MIGRATIONS, revision="head")

    live = sa.table(
        "oauth_live_access_token",
        *[sa.column(name) for name in ("jti", "user_id", "client_id", "session_id")],
        *[sa.column(name, sa.DateTime()) for name in ("issued_at", "expires_at")],
    )
    with db.engine.connect() as connection:
        rows = {row.jti: row for row in connection.execute(sa.select(live))}
    assert set(rows) == {"code-live", "refresh-live", "code-and-refresh", "device-live"}
    assert {(row.user_id, row.client_id) for row in rows.values()} == {(ada, photos)}
    assert (rows["code-live"].session_id, rows["code-live"].expires_at) == ("code-session-1", soon)
    assert (rows["refresh-live"].session_id, rows["refresh-live"].expires_at) == ("refresh-session-1", soon)
    # The lifetime in force when it was issued is unknown: an hour after issuance is the upper bound taken.
    assert (rows["device-live"].session_id, rows["device-live"].expires_at) == (None, now + timedelta(minutes=55))
