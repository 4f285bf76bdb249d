"""The console's sessions page (everyone's live sessions, end any) and signing keys page (rotate now)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.keys import keyring
from app.extensions import db
from app.models import AuditEvent, SigningKey, UserSession
from app.models.base import utcnow
from app.oauth.discovery import JWKS_PATH
from tests.conftest import csrf_from
from tests.integration.account.test_sessions_page import (
    CHROME_ANDROID,
    SAFARI_IPHONE,
    authorized_in,
    refresh_works,
    session_of,
    signed_in,
)
from tests.integration.admin.test_dashboard import admin, assert_guarded, member, stale_admin  # noqa: F401
from tests.integration.auth.helpers import is_signed_in

# The RP helper's fixtures, for a refresh token issued in a session.
from tests.integration.oauth.conftest import (  # noqa: F401
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
)

LISTED = re.compile(r'<tr id="session-([^"]+)">')


def listed_ids(client, query: str = "") -> list[str]:
    response = client.get(f"/admin/sessions{query}")
    assert response.status_code == 200
    return LISTED.findall(response.get_data(as_text=True))


def end(client, session_id: str, *, with_csrf: bool = True):
    """The confirm page's button (a bare POST gets the page back: test_confirm_removals)."""
    token = csrf_from(client.get("/admin/sessions").get_data(as_text=True))
    data = {"csrf_token": token, "confirmed": "yes"} if with_csrf else {"confirmed": "yes"}
    return client.post(f"/admin/sessions/{session_id}/end", data=data)


def events_of(event_type: str) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


def keys_by_status() -> tuple[set[str], set[str]]:
    db.session.rollback()
    rows = list(db.session.scalars(select(SigningKey)))
    return {r.kid for r in rows if r.is_active}, {r.kid for r in rows if not r.is_active}


def published_kids(client) -> set[str]:
    keyring().invalidate()
    return {key["kid"] for key in client.get(JWKS_PATH).get_json()["keys"]}


def rotate(client, *, with_csrf: bool = True):
    confirm = client.get("/admin/keys/rotate").get_data(as_text=True)
    data = {"confirmed": "yes"}  # the confirm page's button
    return client.post("/admin/keys/rotate", data={**data, "csrf_token": csrf_from(confirm)} if with_csrf else data)


# Authorization


@pytest.mark.parametrize(
    ("method", "path", "leak"),
    [
        ("GET", "/admin/sessions", 'id="session-count"'),
        ("GET", "/admin/sessions/{sid}/end", 'id="confirm-form"'),
        ("POST", "/admin/sessions/{sid}/end", ""),
        ("GET", "/admin/keys", 'id="keys"'),
        ("GET", "/admin/keys/rotate", 'id="rotate-confirm"'),
        ("POST", "/admin/keys/rotate", ""),
    ],
)
def test_every_sessions_and_keys_route_is_guarded(app, admin, member, stale_admin, method, path, leak):
    target = admin.session
    keyring().jwks_json()  # makes the first keys
    before = keys_by_status()

    assert_guarded(app, member, stale_admin, method, path.format(sid=target.id), leak=leak or "\x00")

    assert admin.session is not None and admin.session.id == target.id  # nobody ended it
    assert keys_by_status() == before  # nobody rotated


# Sessions


def test_the_page_lists_everyones_live_sessions_with_device_ip_and_times(app, admin, create_user):
    ada = create_user(email="ada@example.com")
    phone = signed_in(app, ada, SAFARI_IPHONE, ip="198.51.100.7")
    ended = signed_in(app, ada, CHROME_ANDROID)
    ended_row = session_of(ended)
    ended_row.revoked_at = utcnow()
    db.session.commit()

    page = admin.client.get("/admin/sessions").get_data(as_text=True)

    assert set(LISTED.findall(page)) == {admin.session.id, session_of(phone).id}
    assert "ada@example.com" in page and "root@example.com" in page
    assert "Mobile Safari 17 on iOS 17.4" in page and "198.51.100.7" in page


def test_idle_and_half_signed_in_sessions_are_not_listed(app, admin, create_user):
    ada = create_user(email="ada@example.com")
    idle = session_of(signed_in(app, ada))
    idle.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(minutes=1)
    db.session.commit()  # session_of rolls back what is not committed
    pending = session_of(signed_in(app, ada))
    pending.pending = "mfa"
    db.session.commit()

    assert listed_ids(admin.client) == [admin.session.id]


def test_filter_by_user_email(app, admin, create_user):
    ada, bob = create_user(email="ada@example.com"), create_user(email="bob@example.com")
    adas = session_of(signed_in(app, ada)).id
    signed_in(app, bob)

    assert listed_ids(admin.client, "?email=ADA@example.com") == [adas]
    assert listed_ids(admin.client, "?email=nobody@example.com") == []


@pytest.mark.parametrize("query", ["?email=not-an-email", "?page=abc", "?page=-2", "?email=" + "a" * 300 + "@x.org"])
def test_bad_filter_input_is_a_400(admin, query):
    assert admin.client.get(f"/admin/sessions{query}").status_code == 400


def test_a_page_past_the_end_is_a_404(admin):
    assert admin.client.get("/admin/sessions?page=2").status_code == 404


def test_ending_a_session_signs_that_browser_out_revokes_its_tokens_and_is_audited(app, admin, create_user, first_party):
    ada = create_user(email="ada@example.com")
    doomed_browser, spared_browser = signed_in(app, ada, SAFARI_IPHONE), signed_in(app, ada, CHROME_ANDROID)
    doomed = authorized_in(app, doomed_browser, *first_party)
    spared = authorized_in(app, spared_browser, *first_party)
    target = session_of(doomed_browser)

    response = end(admin.client, target.id)

    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/sessions")
    assert not is_signed_in(doomed_browser)
    assert is_signed_in(spared_browser)
    assert not refresh_works(app, *first_party, doomed["refresh_token"])
    assert refresh_works(app, *first_party, spared["refresh_token"])
    (event,) = events_of("admin.session_ended")
    assert (event.actor_user_id, event.subject_user_id) == (admin.user.id, ada.id)
    assert event.details == {"session_id": target.id, "app_grants_ended": 1}
    assert target.id not in listed_ids(admin.client)


def test_ending_without_csrf_changes_nothing(app, admin, create_user):
    ada = create_user(email="ada@example.com")
    browser = signed_in(app, ada)

    response = end(admin.client, session_of(browser).id, with_csrf=False)

    assert response.status_code == 400
    assert is_signed_in(browser)
    assert events_of("admin.session_ended") == []


@pytest.mark.parametrize("session_id", ["unknown", "x" * 40, "bad%00id"])
def test_ending_an_unknown_session_is_a_404(admin, session_id):
    assert end(admin.client, session_id).status_code == 404


def test_an_ended_session_cannot_be_ended_twice(app, admin, create_user):
    target = session_of(signed_in(app, create_user(email="ada@example.com"))).id

    assert end(admin.client, target).status_code == 303
    assert end(admin.client, target).status_code == 404
    assert len(events_of("admin.session_ended")) == 1


def test_an_admin_ending_their_own_session_is_signed_out(admin):
    response = end(admin.client, admin.session.id)

    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert not is_signed_in(admin.client)
    assert db.session.scalar(select(UserSession).where(UserSession.revoked_at.is_(None))) is None


# Signing keys


def test_the_keys_page_lists_active_and_retired_keys_with_kid_algorithm_and_age(app, admin):
    keyring().jwks_json()
    active, _ = keys_by_status()
    old = db.session.get(SigningKey, sorted(active)[0])
    old.created_at = utcnow() - timedelta(days=3, hours=1)
    old.retired_at = utcnow() - timedelta(days=1)
    db.session.commit()

    page = admin.client.get("/admin/keys").get_data(as_text=True)

    assert re.search(rf'id="key-{old.kid}" data-status="retired"', page)
    assert f"<td>{old.algorithm}</td>" in page and "3 days" in page
    other = next(kid for kid in active if kid != old.kid)
    assert re.search(rf'id="key-{other}" data-status="active"', page)


def test_rotation_asks_for_confirmation_first(app, admin):
    keyring().jwks_json()
    before = keys_by_status()

    page = admin.client.get("/admin/keys/rotate")

    assert page.status_code == 200 and 'id="rotate-confirm"' in page.get_data(as_text=True)
    assert keys_by_status() == before


def test_rotate_now_adds_new_keys_to_the_jwks_and_keeps_the_old_ones_published(app, admin):
    old_published = published_kids(admin.client)
    old_active, _ = keys_by_status()

    response = rotate(admin.client)

    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/keys")
    new_active, retired = keys_by_status()
    assert len(new_active) == 2 and new_active.isdisjoint(old_active)
    assert retired == old_active
    published = published_kids(admin.client)
    assert new_active <= published and old_published <= published
    (event,) = events_of("admin.keys_rotated")
    assert event.actor_user_id == admin.user.id
    assert set(event.details["new_kids"]) == new_active and set(event.details["retired_kids"]) == old_active


def test_rotation_without_csrf_changes_nothing(app, admin):
    keyring().jwks_json()
    before = keys_by_status()

    assert rotate(admin.client, with_csrf=False).status_code == 400
    assert keys_by_status() == before
    assert events_of("admin.keys_rotated") == []
