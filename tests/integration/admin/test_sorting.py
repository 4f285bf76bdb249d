"""Sortable console lists: each whitelisted ?sort= key orders the rows, anything else gives the default order, paging keeps it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.admin.sorting import Sort, SortableColumns, header_links
from app.extensions import db
from app.models import AuditEvent, OAuthClient, User
from app.models.base import utcnow

BAD_SORTS = ["", "nope", "-", "--email", "password_hash", "email;DROP TABLE user", "created desc", "-" + "x" * 500]
START = utcnow() - timedelta(days=30)


def user_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="user-(\d+)">', html)]


@pytest.fixture
def people(console):
    """Three people whose email, creation and last sign-in orders all differ from each other."""
    rows = {
        "carol@example.com": (START + timedelta(days=1), START + timedelta(days=5)),
        "alice@example.com": (START + timedelta(days=3), None),
        "Bob@example.com": (START + timedelta(days=2), START + timedelta(days=9)),
    }
    for email, (created, signed_in) in rows.items():
        user = User(email=email, created_at=created)
        db.session.add(user)
        db.session.flush()
        if signed_in:
            db.session.add(AuditEvent(event_type="auth.login", subject_user_id=user.id, created_at=signed_in))
    db.session.commit()
    return {email.lower(): db.session.scalar(db.select(User.id).where(User.email == email)) for email in rows}


def listed(console, sort: str, admin_id: int) -> list[int]:
    html = console.get("/admin/users/", query_string={"sort": sort}).get_data(as_text=True)
    return [user_id for user_id in user_ids(html) if user_id != admin_id]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("email", ["alice", "bob", "carol"]),
        ("-email", ["carol", "bob", "alice"]),
        ("created", ["carol", "bob", "alice"]),
        ("-created", ["alice", "bob", "carol"]),
        ("last_sign_in", ["carol", "bob", "alice"]),  # never signed in: last either way
        ("-last_sign_in", ["bob", "carol", "alice"]),
    ],
)
def test_users_sort_by_each_whitelisted_column(console, admin, people, sort, expected):
    assert listed(console, sort, admin.id) == [people[f"{name}@example.com"] for name in expected]


@pytest.mark.parametrize("sort", BAD_SORTS)
def test_an_unknown_user_sort_gives_the_default_newest_first(console, admin, people, sort):
    response = console.get("/admin/users/", query_string={"sort": sort})
    assert response.status_code == 200
    assert listed(console, sort, admin.id) == listed(console, "-created", admin.id)


def test_headers_link_to_their_sort_and_say_the_current_one(console, people):
    html = console.get("/admin/users/?sort=email").get_data(as_text=True)
    assert re.search(r'<th scope="col" aria-sort="ascending">\s*<a class="sort-link" href="[^"]*sort=-email', html)
    assert re.search(r'<th scope="col">\s*<a class="sort-link" href="[^"]*sort=-created', html)
    assert html.count("aria-sort=") == 1


def test_paging_keeps_the_sort_and_the_search(console, admin):
    db.session.add_all(User(email=f"p{n:02}@example.com", created_at=START + timedelta(minutes=n)) for n in range(30))
    db.session.commit()
    first = console.get("/admin/users/?sort=email&q=p").get_data(as_text=True)
    assert 'href="/admin/users/?page=2&amp;q=p&amp;sort=email"' in first
    second = console.get("/admin/users/?page=2&q=p&sort=email").get_data(as_text=True)
    emails = re.findall(r">(p\d\d@example.com)</a>", first + second)
    assert emails == [f"p{n:02}@example.com" for n in range(30)]


def add_client(name: str, created_days: int) -> None:
    db.session.add(
        OAuthClient(
            client_id=name.lower(),
            name=name,
            redirect_uris=[],
            grant_types=[],
            response_types=[],
            created_at=START + timedelta(days=created_days),
        )
    )


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("name", "abc"), ("-name", "cba"), ("created", "bca"), ("-created", "acb"), ("bogus", "acb"), ("-id", "acb")],
)
def test_clients_sort_by_name_and_creation(console, sort, expected):
    for name, days in (("Alpha", 3), ("beta", 1), ("Charlie", 2)):
        add_client(name, days)
    db.session.commit()
    html = console.get("/admin/clients", query_string={"sort": sort}).get_data(as_text=True)
    order = re.findall(r'<tr id="client-([a-z])[a-z]*">', html)
    assert "".join(order) == expected


@pytest.mark.parametrize(("sort", "oldest_first"), [("time", True), ("-time", False), ("", False), ("ip_address", False)])
def test_the_audit_log_sorts_by_time_both_ways_across_pages(console, sort, oldest_first):
    db.session.query(AuditEvent).delete()
    db.session.add_all(
        AuditEvent(event_type="admin.test", ip_address=f"10.0.0.{n}", created_at=START + timedelta(minutes=n)) for n in range(60)
    )
    db.session.commit()
    pages = [console.get("/admin/audit", query_string={"sort": sort, "page": n}).get_data(as_text=True) for n in (1, 2, 3)]
    times = re.findall(r'<time datetime="([^"]+)"', "".join(pages))
    assert len(times) == len(set(times)) >= 60
    assert times == sorted(times, reverse=not oldest_first)


def test_header_links_flip_the_current_column_and_start_dates_newest_first():
    columns = SortableColumns({"name": User.email, "created": User.created_at}, Sort("created", True), frozenset({"created"}))
    assert header_links(columns, Sort("name", False)) == {"name": ("-name", "ascending"), "created": ("-created", None)}
    assert header_links(columns, Sort("created", True)) == {"name": ("name", None), "created": ("created", "descending")}
