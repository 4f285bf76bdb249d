"""`flask prepare`: replicas starting together on an empty database all succeed, and migrate and make keys once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from app.config import PROJECT_ROOT
from tests.integration.web.test_migrations import _postgresql_url as postgresql_url

FLASK = str(Path(os.sys.executable).parent / "flask")
DEADLINE_SECONDS = 120
HEAD = ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head()


def _environment(database_url: str, instance: Path) -> dict[str, str]:
    """The caller's environment without its IDP_* settings, pointed at this database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update(
        FLASK_APP="wsgi",
        IDP_DATABASE_URL=database_url,
        IDP_INSTANCE_DIR=str(instance),
        IDP_SECRET_KEY="prepare-test-secret-" + "x" * 32,
        IDP_LOG_JSON="0",
    )
    return env


def start_prepare(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [FLASK, "prepare"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> str:
    """Wait (bounded) for a run; fail with its output unless it exited 0, else return what it printed."""
    try:
        out, err = process.communicate(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"flask prepare still running after {DEADLINE_SECONDS} s:\n{out}\n{err}")
    assert process.returncode == 0, f"flask prepare exited {process.returncode}:\n{out}\n{err}"
    return out


def schema_and_keys(database_url: str) -> tuple[str, list[tuple[str, int]]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            active = connection.execute(
                sa.text("SELECT algorithm, count(*) FROM signing_key WHERE retired_at IS NULL GROUP BY algorithm ORDER BY 1")
            ).all()
            total = connection.execute(sa.text("SELECT count(*) FROM signing_key")).scalar_one()
    finally:
        engine.dispose()
    assert total == len(active), "a replica made keys that another had made already"
    return revision, [tuple(row) for row in active]


@pytest.fixture
def fresh_postgresql() -> Iterator[str]:
    """An empty PostgreSQL database of its own next to the test one (skipped without PostgreSQL)."""
    urls = postgresql_url()
    yield next(urls)
    urls.close()


def test_replicas_preparing_an_empty_postgresql_together_take_turns(fresh_postgresql, tmp_path):
    env = _environment(fresh_postgresql, tmp_path)

    outputs = [finish(process) for process in [start_prepare(env) for _ in range(3)]]

    migrated = [out for out in outputs if f"schema migrated from revision (empty) to {HEAD}" in out]
    assert len(migrated) == 1, outputs
    assert sum(f"schema already at revision {HEAD}" in out and "signing keys present" in out for out in outputs) == 2
    assert schema_and_keys(fresh_postgresql) == (HEAD, [("ES256", 1), ("RS256", 1)])
    again = finish(start_prepare(env))
    assert again.splitlines() == [f"schema already at revision {HEAD}", "signing keys present"]
    assert schema_and_keys(fresh_postgresql) == (HEAD, [("ES256", 1), ("RS256", 1)])


def test_prepare_migrates_sqlite_and_makes_keys_then_does_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'idp.sqlite3'}"
    env = _environment(url, tmp_path)

    first = finish(start_prepare(env))

    assert f"schema migrated from revision (empty) to {HEAD}" in first
    assert first.count("new ") == 2
    assert schema_and_keys(url) == (HEAD, [("ES256", 1), ("RS256", 1)])
    assert finish(start_prepare(env)).splitlines() == [f"schema already at revision {HEAD}", "signing keys present"]
