"""Times as people read them: their language's order, their zone, the zone always named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask_babel import force_locale

from app import create_app
from app.config import TestConfig as AppTestConfig
from app.web.i18n import format_time

WINTER = datetime(2026, 12, 7, 14, 5)  # naive, as the database returns it: UTC
SUMMER = datetime(2026, 7, 7, 14, 5)


@pytest.fixture(scope="module")
def app():
    return create_app(AppTestConfig())


@pytest.mark.parametrize(
    ("language", "zone", "moment", "expected"),
    [
        ("en", None, WINTER, "Dec 7, 2026, 2:05\u202fPM UTC"),
        ("de", None, WINTER, "07.12.2026, 14:05 UTC"),
        ("fr", None, WINTER, "7 déc. 2026, 14:05 UTC"),
        ("de", "Europe/Berlin", WINTER, "07.12.2026, 15:05 MEZ"),
        ("de", "Europe/Berlin", SUMMER, "07.07.2026, 16:05 MESZ"),
        ("en", "Asia/Tokyo", WINTER, "Dec 7, 2026, 11:05\u202fPM UTC+9"),
        ("fr", "Asia/Kolkata", WINTER, "7 déc. 2026, 19:35 UTC+5:30"),
        ("en", "America/New_York", WINTER, "Dec 7, 2026, 9:05\u202fAM EST"),
        ("fr", "Pacific/Kiritimati", WINTER, "8 déc. 2026, 04:05 UTC+14"),
    ],
)
def test_a_time_in_each_language_and_zone(app, language, zone, moment, expected):
    with app.test_request_context(), force_locale(language):
        assert format_time(moment, zone) == expected


def test_an_aware_time_is_converted_not_relabelled(app):
    paris_noon = datetime(2026, 12, 7, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    with app.test_request_context(), force_locale("en"):
        assert format_time(paris_noon) == format_time(datetime(2026, 12, 7, 11, 0, tzinfo=UTC))


def test_an_unknown_zone_falls_back_to_the_pages_zone(app):
    with app.test_request_context(), force_locale("en"):
        assert format_time(WINTER, "Mars/Olympus_Mons").endswith(" UTC")
        assert format_time(None) == ""
