"""insert_ignoring_duplicates: the first insert of a key wins, a repeat changes nothing and raises nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core import inserts
from app.extensions import db
from app.models import RevokedAccessToken
from app.models.base import utcnow

TABLE = RevokedAccessToken.__table__


def row(jti: str) -> dict[str, object]:
    return {"jti": jti, "expires_at": utcnow() + timedelta(minutes=5), "revoked_at": utcnow()}


@pytest.mark.parametrize("statement", ["on conflict", "savepoint"])
def test_the_first_insert_wins_and_a_repeat_is_ignored_inside_the_same_transaction(app, monkeypatch, statement):
    if statement == "savepoint":  # a database without ON CONFLICT takes the portable path
        monkeypatch.setattr(inserts, "_ON_CONFLICT_INSERTS", {})

    assert inserts.insert_ignoring_duplicates(TABLE, row("jti-1"), [TABLE.c.jti]) is True
    assert inserts.insert_ignoring_duplicates(TABLE, row("jti-1"), [TABLE.c.jti]) is False
    assert inserts.insert_ignoring_duplicates(TABLE, row("jti-2"), [TABLE.c.jti]) is True
    db.session.commit()  # the transaction survived the refused repeat

    assert db.session.scalar(select(func.count()).select_from(TABLE)) == 2
