"""Security history: the person's own events only, newest first, 25 a page, with device, IP and app name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.account.history import PAGE_SIZE, describe_device
from app.core.audit import Origin, record_event
from app.core.clients import ClientSpec, create_client
from app.extensions import db
from app.models.base import utcnow

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture
def ada(create_user):
    return create_user(email="ada@example.com")


def add_events(user, count: int, event_type: str = "auth.login", **details) -> None:
    """`count` events about `user`, one minute apart, the last one the newest."""
    start = utcnow() - timedelta(hours=1)
    for n in range(count):
        event = record_event(event_type, origin=Origin("198.51.100.7", FIREFOX_LINUX), subject=user, **details)
        event.created_at = start + timedelta(minutes=n)
    db.session.commit()


def test_the_page_lists_the_person_s_events_with_label_time_device_and_ip(ada, auth):
    add_events(ada, 1, "mfa.enrolled", kind="totp")
    auth.login(ada.email)

    response = auth.client.get("/account/history")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Second factor added" in html and "Factor: authenticator app" in html
    assert "Firefox 128 on Linux" in html and "198.51.100.7" in html
    assert "Signed in" in html  # the sign-in just now is an event too


def test_newest_first(ada, auth):
    record_event("auth.email_verified", origin=Origin(), subject=ada).created_at = utcnow() - timedelta(days=2)
    record_event("mfa.removed", origin=Origin(), subject=ada).created_at = utcnow() - timedelta(days=1)
    db.session.commit()
    auth.login(ada.email)

    html = auth.client.get("/account/history").get_data(as_text=True)

    assert html.index("Signed in") < html.index("Second factor removed") < html.index("Email address confirmed")


def test_another_person_s_events_are_never_shown(ada, create_user, auth):
    bob = create_user(email="bob@example.com")
    record_event("auth.password_reset_completed", origin=Origin("203.0.113.99", SAFARI_IPHONE), subject=bob)
    record_event("auth.login_failed", origin=Origin("203.0.113.98"), reason="unknown_account")  # about no one
    db.session.commit()
    auth.login(ada.email)

    html = auth.client.get("/account/history").get_data(as_text=True)

    assert "Password changed by reset link" not in html
    assert "203.0.113.99" not in html and "203.0.113.98" not in html and "iOS" not in html


def entries(page: str) -> int:
    """The events listed on a history page (the menu's items are list items too)."""
    listed = page.split('id="history-events"', 1)[1].split("</ol>", 1)[0]
    return listed.count("<li>")


def test_twenty_five_a_page_and_the_pages_link_to_each_other(ada, auth):
    add_events(ada, PAGE_SIZE + 5, "mfa.sms_sent")  # plus the sign-in: 31 events, 2 pages
    auth.login(ada.email)

    first = auth.client.get("/account/history").get_data(as_text=True)
    second = auth.client.get("/account/history?page=2").get_data(as_text=True)

    assert entries(first) == PAGE_SIZE and "Page 1 of 2" in first and "?page=2" in first
    assert entries(second) == 6 and "Page 2 of 2" in second and "?page=1" in second
    assert "Signed in" in first and "Signed in" not in second


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "3", "99999999999999999999", ""])
def test_a_page_that_does_not_exist_is_a_404(ada, auth, page):
    add_events(ada, PAGE_SIZE + 5)
    auth.login(ada.email)

    response = auth.client.get("/account/history", query_string={"page": page})

    assert response.status_code == 404


def test_an_empty_history_still_has_its_first_page(ada, test_client, auth):
    auth.login(ada.email)
    db.session.execute(db.delete(db.metadata.tables["audit_event"]))
    db.session.commit()

    response = auth.client.get("/account/history?page=1")

    assert response.status_code == 200 and "No events yet." in response.get_data(as_text=True)


def test_oauth_events_name_the_app_while_it_exists(ada, auth):
    client, _ = create_client(
        ClientSpec(
            name="Photo Printer",
            is_confidential=True,
            redirect_uris=["https://rp.example/cb"],
            grant_types=["authorization_code"],
            scope="openid",
        )
    )
    record_event("oauth.consent_granted", origin=Origin(), subject=ada, client_id=client.client_id, scope="openid")
    record_event("oauth.consent_granted", origin=Origin(), subject=ada, client_id="gone-client", scope="openid")
    db.session.commit()
    auth.login(ada.email)

    html = auth.client.get("/account/history").get_data(as_text=True)

    assert html.count("Allowed an app to use your account") == 2
    assert "App: Photo Printer" in html and "gone-client" not in html


def test_the_page_needs_a_signed_in_person(test_client):
    response = test_client.get("/account/history")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FIREFOX_LINUX, "Firefox 128 on Linux"),
        (SAFARI_IPHONE, "Mobile Safari 17 on iOS 17.5"),
        (EDGE_WINDOWS, "Edge 126 on Windows 10"),
        (CHROME_ANDROID, "Chrome Mobile 126 on Android 14"),
        ("curl/8.5.0", "curl 8"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("something else entirely", "Unknown device"),
    ],
)
def test_describe_device_names_browser_and_system(user_agent, expected):
    assert describe_device(user_agent) == expected
