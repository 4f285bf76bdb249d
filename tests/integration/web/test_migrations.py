"""Alembic migrations: up, down and up again on a fresh database, and the result matches the models."""

from __future__ import annotations

import logging.config
import os
import uuid
from collections.abc import Iterator

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
