"""The console's audit log: filters, pages of 50, CSV and JSON exports of the filtered set, bad input."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest

from app.admin import audit_log as service
from app.admin.audit_log import safe_cell
from app.extensions import db
from app.models.base import utcnow
from tests.integration.admin.test_dashboard import add_event, admin, assert_guarded, member, stale_admin  # noqa: F401


def listed_types(html: str) -> list[str]:
    return re.findall(r'<tr data-event-type="([^"]+)"', html)


def export_csv(client, **query) -> list[dict[str, str]]:
    response = client.get("/admin/audit/export.csv", query_string=query)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def export_json(client, **query) -> list[dict]:
    response = client.get("/admin/audit/export.json", query_string=query)
    assert response.status_code == 200
    return response.get_json()["events"]


@pytest.fixture
def people(create_user):
    return create_user(email="ada@example.com"), create_user(email="bob@example.com")


@pytest.fixture
def events(people):
    """A small log: who did what, to whom, through which client, from where, and when."""
    ada, bob = people
    now = utcnow()
    add_event("test.alpha", actor_user_id=ada.id, subject_user_id=ada.id, ip_address="10.0.0.1", at=now - timedelta(seconds=1))
    add_event("test.alpha", actor_user_id=bob.id, subject_user_id=ada.id, ip_address="10.0.0.2", at=now - timedelta(seconds=2))
    add_event(
        "test.beta", actor_user_id=bob.id, subject_user_id=bob.id, details={"client_id": "app-one"}, at=now - timedelta(seconds=3)
    )
    add_event("test.beta", subject_user_id=bob.id, details={"client_id": "app-two"}, at=now - timedelta(days=10))
    add_event("test.gamma", ip_address="10.0.0.1", at=now - timedelta(days=3))
    db.session.commit()
    return ada, bob


# Authorization


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/export.csv", "/admin/audit/export.json"])
def test_the_audit_log_and_its_exports_are_guarded(app, member, stale_admin, events, path):
    assert_guarded(app, member, stale_admin, "GET", path, leak="test.alpha")


# Filters


def test_without_a_filter_every_event_is_listed_newest_first(admin, events):
    html = admin.client.get("/admin/audit").get_data(as_text=True)

    types = [t for t in listed_types(html) if t.startswith("test.")]
    assert types[-2:] == ["test.gamma", "test.beta"]  # 3 and 10 days old: last
    assert sorted(types) == ["test.alpha", "test.alpha", "test.beta", "test.beta", "test.gamma"]


def test_filter_by_event_type(admin, events):
    html = admin.client.get("/admin/audit?event_type=test.beta").get_data(as_text=True)

    assert listed_types(html) == ["test.beta", "test.beta"]


def test_the_event_type_is_chosen_from_the_known_types(admin, events):
    html = admin.client.get("/admin/audit").get_data(as_text=True)

    assert '<option value="auth.login_failed">' in html  # labelled types, even before they happen
    assert '<option value="test.gamma">' in html  # and every type already in the log


def test_filter_by_actor_and_by_subject_email(admin, events):
    by_actor = admin.client.get("/admin/audit?actor=BOB@example.com").get_data(as_text=True)
    by_subject = admin.client.get("/admin/audit?subject=ada@example.com").get_data(as_text=True)

    assert listed_types(by_actor) == ["test.alpha", "test.beta"]
    assert listed_types(by_subject) == ["test.alpha", "test.alpha"]


def test_filter_by_client_id_in_the_details(admin, events):
    html = admin.client.get("/admin/audit?client=app-two").get_data(as_text=True)

    assert listed_types(html) == ["test.beta"]
    assert "app-two" in html and "app-one" not in html


def test_filter_by_ip_address(admin, events):
    html = admin.client.get("/admin/audit?ip=10.0.0.1").get_data(as_text=True)

    assert listed_types(html) == ["test.alpha", "test.gamma"]


def test_filter_by_time_range_whole_days_inclusive(admin, events):
    day = (utcnow() - timedelta(days=3)).date().isoformat()
    only_that_day = admin.client.get(f"/admin/audit?date_from={day}&date_to={day}").get_data(as_text=True)
    until_that_day = admin.client.get(f"/admin/audit?date_to={day}").get_data(as_text=True)

    assert listed_types(only_that_day) == ["test.gamma"]
    assert listed_types(until_that_day) == ["test.gamma", "test.beta"]


def test_filters_combine(admin, events):
    html = admin.client.get("/admin/audit?event_type=test.alpha&ip=10.0.0.2").get_data(as_text=True)

    assert listed_types(html) == ["test.alpha"]


def test_an_unknown_email_matches_nothing_rather_than_everything(admin, events):
    html = admin.client.get("/admin/audit?actor=nobody@example.com").get_data(as_text=True)

    assert listed_types(html) == []
    assert "No events match." in html


# Pages


def test_pages_hold_fifty_events_and_keep_the_filter(admin):
    for _ in range(120):
        add_event("test.many")
    db.session.commit()

    first = admin.client.get("/admin/audit?event_type=test.many").get_data(as_text=True)
    third = admin.client.get("/admin/audit?event_type=test.many&page=3").get_data(as_text=True)

    assert len(listed_types(first)) == 50 and "Page 1 of 3" in first
    assert 'href="/admin/audit?page=2&amp;event_type=test.many"' in first
    assert len(listed_types(third)) == 20
    assert admin.client.get("/admin/audit?event_type=test.many&page=4").status_code == 404


@pytest.mark.parametrize("page", ["0x1", "-1", "1.5", "9999999", "two"])
def test_a_bad_page_number_is_a_400(admin, page):
    response = admin.client.get(f"/admin/audit?page={page}")

    assert response.status_code == 400


# Bad filter input


@pytest.mark.parametrize(
    "query",
    [
        "event_type=no.such.type",
        "actor=not-an-email",
        "subject=" + "a" * 300 + "@example.com",
        "client=bad%00value",
        "ip=10.0.0.999",
        "date_from=2026-13-01",
        "date_to=yesterday",
        "date_from=2026-02-02&date_to=2026-02-01",
    ],
)
@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/export.csv", "/admin/audit/export.json"])
def test_bad_filter_input_is_a_friendly_400(admin, events, path, query):
    response = admin.client.get(f"{path}?{query}")

    assert response.status_code == 400
    assert "text/html" in response.content_type
    assert "test.alpha" not in response.get_data(as_text=True)


def test_an_unknown_export_format_is_a_404(admin):
    assert admin.client.get("/admin/audit/export.xml").status_code == 404


# Exports


def test_the_csv_export_holds_exactly_the_filtered_set(admin, events):
    ada, _ = events

    rows = export_csv(admin.client, subject="ada@example.com")

    assert [row["event_type"] for row in rows] == ["test.alpha", "test.alpha"]
    assert {row["actor"] for row in rows} == {"ada@example.com", "bob@example.com"}
    assert {row["subject"] for row in rows} == {"ada@example.com"}
    assert {row["ip_address"] for row in rows} == {"10.0.0.1", "10.0.0.2"}


def test_the_json_export_holds_exactly_the_filtered_set(admin, events):
    records = export_json(admin.client, event_type="test.beta")

    assert [r["event_type"] for r in records] == ["test.beta", "test.beta"]
    assert [r["client_id"] for r in records] == ["app-one", "app-two"]
    assert records[0]["details"] == {"client_id": "app-one"}
    assert records[1]["subject"] == "bob@example.com" and records[1]["actor"] is None


def test_exports_are_downloads_never_cached(admin, events):
    for fmt, media_type in (("csv", "text/csv"), ("json", "application/json")):
        response = admin.client.get(f"/admin/audit/export.{fmt}?event_type=test.alpha")

        assert response.mimetype == media_type
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Content-Disposition"].endswith(f'.{fmt}"')
        assert response.headers["Cache-Control"] == "no-store"


def test_an_export_larger_than_a_batch_streams_every_event_in_order(admin, people, monkeypatch):
    """Rows are fetched a batch at a time and written as they come; nothing is lost at the batch edges."""
    monkeypatch.setattr(service, "EXPORT_BATCH", 7)
    base = utcnow() - timedelta(hours=1)
    for i in range(50):
        add_event("test.bulk", at=base + timedelta(seconds=i), details={"n": i})
    db.session.commit()

    response = admin.client.get("/admin/audit/export.json?event_type=test.bulk")
    assert "Content-Length" not in response.headers  # streamed: the length isn't known up front
    numbers = [event["details"]["n"] for event in json.loads(response.get_data(as_text=True))["events"]]
    assert numbers == list(range(49, -1, -1))  # newest first, each once
    rows = list(
        csv.DictReader(io.StringIO(admin.client.get("/admin/audit/export.csv?event_type=test.bulk").get_data(as_text=True)))
    )
    assert [json.loads(row["details"])["n"] for row in rows] == numbers


def test_an_empty_export_is_still_well_formed(admin):
    assert export_json(admin.client, event_type="admin.keys_rotated") == []
    text = admin.client.get("/admin/audit/export.csv?event_type=admin.keys_rotated").get_data(as_text=True)
    assert text.splitlines() == [",".join(service.EXPORT_FIELDS)]


def test_the_csv_export_defuses_spreadsheet_formulas(admin, people):
    ada, _ = people
    add_event("test.evil", subject_user_id=ada.id, ip_address="=1+1", user_agent="@SUM(A1)", details={"client_id": "-2+3"})
    add_event("test.evil", subject_user_id=ada.id, user_agent="+cmd|' /C calc'!A0")
    db.session.commit()

    response = admin.client.get("/admin/audit/export.csv?event_type=test.evil")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))

    cells = [value for row in rows for value in row.values() if value]
    assert not any(value.startswith(("=", "+", "-", "@")) for value in cells)
    assert {"'=1+1", "'@SUM(A1)", "'-2+3", "'+cmd|' /C calc'!A0"} <= set(cells)
    # JSON is data, not a spreadsheet: the values stay as they were.
    assert {r["ip_address"] for r in export_json(admin.client, event_type="test.evil")} == {"=1+1", None}


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=A1", "'=A1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("plain", "plain"), (None, "")],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_html_in_an_event_is_escaped_on_the_page(admin, people):
    add_event("test.html", user_agent="x", details={"note": "<script>alert(1)</script>"})
    db.session.commit()

    html = admin.client.get("/admin/audit?event_type=test.html").get_data(as_text=True)

    assert "<script>alert(1)" not in html
    assert "\\u003cscript\\u003e" in html
