"""`flask keys rotate --if-older-than`: a schedule rotates an algorithm's key once it is old enough, never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.durations import describe_age, parse_duration
from app.core.keys import ensure_keys
from app.extensions import db
from app.models import SigningKey
from app.models.base import utcnow
from tests.conftest import audit_types


def active_keys() -> dict[str, str]:
    rows = db.session.execute(select(SigningKey.algorithm, SigningKey.kid).where(SigningKey.retired_at.is_(None))).all()
    assert len(rows) == len({algorithm for algorithm, _ in rows}), "two active keys of one algorithm"
    return dict(rows)


def age_key(kid: str, days: int) -> None:
    db.session.execute(update(SigningKey).where(SigningKey.kid == kid).values(created_at=utcnow() - timedelta(days=days)))
    db.session.commit()


def rotate_if_older(app, value: str):
    return app.test_cli_runner().invoke(args=["keys", "rotate", "--if-older-than", value])


@pytest.fixture
def keys(app) -> dict[str, str]:
    ensure_keys()
    db.session.commit()
    return active_keys()


def test_old_keys_are_rotated_once_and_then_left_alone(app, keys):
    for kid in keys.values():
        age_key(kid, days=100)

    first = rotate_if_older(app, "90d")

    assert first.exit_code == 0, first.output
    renewed = active_keys()
    assert set(renewed) == {"RS256", "ES256"} and not set(renewed.values()) & set(keys.values())
    for algorithm in ("RS256", "ES256"):
        assert f"rotated {algorithm} key {keys[algorithm]} (100 days old): new key {renewed[algorithm]}" in first.output
    assert audit_types() == ["admin.keys_rotated"]

    second = rotate_if_older(app, "90d")

    assert second.exit_code == 0, second.output
    assert active_keys() == renewed
    assert second.output.count("old; nothing to do") == 2
    assert db.session.query(SigningKey).count() == 4  # the retired keys stay (published until their tokens expire)
    assert audit_types() == ["admin.keys_rotated"]


def test_only_the_algorithm_whose_key_is_old_enough_is_rotated(app, keys):
    age_key(keys["ES256"], days=91)
    age_key(keys["RS256"], days=12)

    result = rotate_if_older(app, "90d")

    assert result.exit_code == 0, result.output
    renewed = active_keys()
    assert renewed["RS256"] == keys["RS256"] and renewed["ES256"] != keys["ES256"]
    assert f"active RS256 key {keys['RS256']} is 12 days old; nothing to do" in result.output
    assert f"rotated ES256 key {keys['ES256']} (91 days old)" in result.output


def test_a_missing_key_is_created(app):
    result = rotate_if_older(app, "90d")

    assert result.exit_code == 0, result.output
    created = active_keys()
    assert set(created) == {"RS256", "ES256"}
    assert f"no active ES256 key: created {created['ES256']}" in result.output


@pytest.mark.parametrize("value", ["90", "d", "90x", "-1d", "0d", "1.5d", "90 days", "", "9999999d", "1d2h"])
def test_a_bad_duration_is_a_usage_error_and_changes_nothing(app, keys, value):
    for kid in keys.values():
        age_key(kid, days=100)

    result = rotate_if_older(app, value)

    assert result.exit_code == 2
    assert "Invalid value for '--if-older-than'" in result.output and "such as 90d" in result.output
    assert active_keys() == keys


def test_without_the_option_rotate_always_rotates(app, keys):
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])

    assert result.exit_code == 0, result.output
    assert not set(active_keys().values()) & set(keys.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)), (" 45s ", timedelta(seconds=45))],
)
def test_durations_in_days_hours_minutes_and_seconds(text, expected):
    assert parse_duration(text) == expected


def test_ages_read_in_their_largest_whole_unit():
    assert [describe_age(timedelta(seconds=s)) for s in (1, 59, 60, 7200, 86400, 12 * 86400 + 5)] == [
        "1 second",
        "59 seconds",
        "1 minute",
        "2 hours",
        "1 day",
        "12 days",
    ]
