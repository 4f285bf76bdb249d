"""A PostgreSQL database of this run's own, so runs sharing one server never meet.

Every test of a run empties and refills the same tables; two runs on one database (a developer's
and CI's, or two engineers') would delete each other's rows and wait on each other's locks until
both hang. At the start of a run on PostgreSQL, a database named after IDP_TEST_DATABASE_URL's
(``test_run_<random>``) is created next to it and the variable points there for the whole run,
subprocesses (live servers) included; it is dropped at the end, with FORCE so a server that did
not exit cleanly can't keep it alive.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

VARIABLE = "IDP_TEST_DATABASE_URL"
_created: list[tuple[str, str]] = []  # (the URL it was created through, its name)


def _execute(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def start() -> None:
    base = os.environ.get(VARIABLE, "")
    if not base.startswith("postgresql"):
        return
    url = make_url(base)
    name = f"{url.database}_run_{secrets.token_hex(4)}"
    _execute(base, f'CREATE DATABASE "{name}"')
    _created.append((base, name))
    os.environ[VARIABLE] = url.set(database=name).render_as_string(hide_password=False)


def finish() -> None:
    while _created:
        base, name = _created.pop()
        os.environ[VARIABLE] = base
        _execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
