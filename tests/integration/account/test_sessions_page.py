"""The sessions page: live sessions with browser, system and IP; ending one (or all others) signs those
browsers out and revokes the refresh tokens issued in them; nobody can touch another person's session."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core.live_sessions import describe_device
from app.extensions import db
from app.models import AuditEvent, User, UserSession
from app.models.base import utcnow
from app.security import new_public_id, new_token, token_digest
from app.web.messages import message
from tests.conftest import AuthActions, audit_types, csrf_from, shown_time
from tests.integration.auth.helpers import auth_cookie, auth_set_cookie, is_cleared, is_signed_in, reload

# The RP helper's fixtures, used where a refresh token issued in a session is under test.
from tests.integration.oauth.conftest import (  # noqa: F401
    RelyingParty,
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
    resource_server,
)

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
)
SESSION_ITEM = re.compile(r'<li class="factor session" id="session-([^"]+)" data-current="([01])">(.*?)</li>', re.DOTALL)


# --- helpers ---


def browser(app: Flask, user_agent: str = FIREFOX_WINDOWS, ip: str = "203.0.113.5") -> FlaskClient:
    """A separate browser (its own cookies), with its own user agent and address."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    return client


def signed_in(app: Flask, user: User, user_agent: str = FIREFOX_WINDOWS, ip: str = "203.0.113.5") -> FlaskClient:
    client = browser(app, user_agent, ip)
    assert AuthActions(client).login(user.email).status_code == 303
    return client


def session_of(client: FlaskClient) -> UserSession:
    db.session.rollback()
    return db.session.scalar(select(UserSession).where(UserSession.token_digest == token_digest(auth_cookie(client))))


def listed(client: FlaskClient) -> dict[str, tuple[bool, str]]:
    """The sessions page as {session id: (is this device, the entry's text)}."""
    response = client.get("/account/sessions")
    assert response.status_code == 200
    return {
        sid: (current == "1", " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split()))
        for sid, current, body in SESSION_ITEM.findall(response.get_data(as_text=True))
    }


def page_token(client: FlaskClient) -> str:
    return csrf_from(client.get("/account/sessions").get_data(as_text=True))


def confirmation(client: FlaskClient, *, with_csrf: bool, confirmed: bool) -> dict:
    """What a confirmation page's form posts; `confirmed=False` leaves out the field only that form sends."""
    data = {"csrf_token": page_token(client)} if with_csrf else {}
    if confirmed:
        data["confirm"] = "1"
    return data


def end(client: FlaskClient, session_id: str, *, with_csrf: bool = True, confirmed: bool = True):
    return client.post(f"/account/sessions/{session_id}/end", data=confirmation(client, with_csrf=with_csrf, confirmed=confirmed))


def end_others(client: FlaskClient, *, with_csrf: bool = True, confirmed: bool = True):
    return client.post("/account/sessions/end-others", data=confirmation(client, with_csrf=with_csrf, confirmed=confirmed))


def ended_events() -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "account.session_ended")))


def authorized_in(app: Flask, client: FlaskClient, oauth_client, secret) -> dict:
    """Tokens for the person signed in to `client`, through the code flow run in that browser."""
    rp = RelyingParty(app, client, AuthActions(client))
    return rp.tokens(oauth_client, secret)


def refresh_works(app: Flask, oauth_client, secret, refresh_token: str) -> bool:
    response = RelyingParty(app, app.test_client(), None).refresh(oauth_client, secret, refresh_token)
    if response.status_code == 200:
        return True
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant", response.get_json()
    return False


def introspected_active(app: Flask, resource, token: str) -> bool:
    response = RelyingParty(app, app.test_client(), None).introspect(*resource, token)
    assert response.status_code == 200
    return response.get_json()["active"]


def pending_session(user: User) -> UserSession:
    """Password accepted, second factor still owed: not signed in anywhere."""
    now = utcnow()
    row = UserSession(
        id=new_public_id(),
        token_digest=token_digest(new_token()),
        user_id=user.id,
        pending="mfa",
        created_at=now,
        last_seen_at=now,
        auth_time=now,
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def ada(create_user) -> User:
    return create_user(email="ada@example.com")


@pytest.fixture
def grace(create_user) -> User:
    return create_user(email="grace@example.com")


# --- the user agent, in words ---


@pytest.mark.parametrize(
    ("user_agent", "expected_browser", "expected_system"),
    [
        (FIREFOX_WINDOWS, "Firefox 128", "Windows 10"),
        (SAFARI_IPHONE, "Mobile Safari 17", "iOS 17.4"),
        (CHROME_ANDROID, "Chrome Mobile 126", "Android 14"),
        ("curl/8.5.0", "curl 8", "Unknown system"),
        ("", "Unknown browser", "Unknown system"),
        ("<script>alert(1)</script>", "Unknown browser", "Unknown system"),
    ],
)
def test_browser_and_system_come_from_the_user_agent_parser(user_agent, expected_browser, expected_system):
    device = describe_device(user_agent)

    assert (device.browser, device.system) == (expected_browser, expected_system)


# --- the page ---


def test_the_page_lists_each_live_session_with_browser_system_ip_times_and_this_device(app, ada):
    here = signed_in(app, ada, FIREFOX_WINDOWS, "203.0.113.5")
    phone = signed_in(app, ada, SAFARI_IPHONE, "198.51.100.7")
    mine, theirs = session_of(here), session_of(phone)

    entries = listed(here)

    assert set(entries) == {mine.id, theirs.id}
    assert list(entries)[0] == mine.id  # this browser first
    is_current, text = entries[mine.id]
    assert is_current and "Firefox 128 on Windows 10" in text and "this device" in text and "203.0.113.5" in text
    assert " ".join(shown_time(app, mine.created_at).split()) in text  # page text: spaces normalised
    is_current, text = entries[theirs.id]
    assert not is_current and "Mobile Safari 17 on iOS 17.4" in text and "198.51.100.7" in text
    assert "this device" not in text
    # Seen from the phone, the phone is this device.
    assert listed(phone)[theirs.id][0] and not listed(phone)[mine.id][0]


def test_ended_expired_pending_and_other_peoples_sessions_are_not_listed(app, ada, grace):
    here = signed_in(app, ada)
    signed_out = signed_in(app, ada)
    assert AuthActions(signed_out).logout().status_code == 303
    idle = session_of(signed_in(app, ada))
    idle.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(seconds=1)
    db.session.commit()
    too_old = session_of(signed_in(app, ada))
    too_old.created_at = utcnow() - app.config["SESSION_ABSOLUTE_TIMEOUT"] - timedelta(seconds=1)
    pending_session(ada)
    other_person = session_of(signed_in(app, grace))

    entries = listed(here)

    assert list(entries) == [session_of(here).id]
    assert other_person.id not in entries


def test_the_page_needs_a_signed_in_person(test_client):
    response = test_client.get("/account/sessions")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- ending sessions ---


def test_ending_another_session_signs_that_browser_out_and_is_audited(app, ada):
    here = signed_in(app, ada)
    there = signed_in(app, ada, SAFARI_IPHONE)
    target = session_of(there)

    response = end(here, target.id)

    assert response.status_code == 303 and response.headers["Location"] == "/account/sessions"
    assert "That session has ended" in html.unescape(here.get(response.headers["Location"]).get_data(as_text=True))
    assert not is_signed_in(there)
    assert is_signed_in(here)
    assert reload(target).revoked_at is not None
    [event] = ended_events()
    assert event.subject_user_id == ada.id
    assert event.details == {"session_id": target.id, "current": False, "app_grants_ended": 0}
    assert list(listed(here)) == [session_of(here).id]


def test_ending_this_browsers_own_session_signs_it_out(app, ada):
    here = signed_in(app, ada)
    mine = session_of(here)

    response = end(here, mine.id)

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert is_cleared(auth_set_cookie(response))
    assert reload(mine).revoked_at is not None
    assert message("logout") in html.unescape(here.get("/login").get_data(as_text=True))
    assert not is_signed_in(here)
    assert ended_events()[0].details["current"] is True


def test_ending_all_other_sessions_keeps_only_this_one(app, ada, grace):
    here = signed_in(app, ada)
    others = [signed_in(app, ada, SAFARI_IPHONE), signed_in(app, ada, CHROME_ANDROID)]
    other_ids = sorted(session_of(other).id for other in others)
    half_signed_in = pending_session(ada)
    someone_else = signed_in(app, grace)

    response = end_others(here)

    assert response.status_code == 303 and response.headers["Location"] == "/account/sessions"
    assert "Your 2 other sessions have ended." in here.get("/account/sessions").get_data(as_text=True)
    assert is_signed_in(here)
    assert not any(is_signed_in(other) for other in others)
    assert is_signed_in(someone_else)
    assert sorted(e.details["session_id"] for e in ended_events()) == other_ids
    assert list(listed(here)) == [session_of(here).id]
    assert reload(half_signed_in).revoked_at is not None  # stopped at the second factor, now ended too


def test_ending_a_session_revokes_the_refresh_tokens_issued_in_it_and_no_others(app, ada, first_party, resource_server):
    here = signed_in(app, ada)
    there, elsewhere = signed_in(app, ada, SAFARI_IPHONE), signed_in(app, ada, CHROME_ANDROID)
    doomed = authorized_in(app, there, *first_party)
    spared = authorized_in(app, elsewhere, *first_party)

    assert end(here, session_of(there).id).status_code == 303

    assert not refresh_works(app, *first_party, doomed["refresh_token"])
    assert not introspected_active(app, resource_server, doomed["refresh_token"])
    assert not introspected_active(app, resource_server, doomed["access_token"])  # deny-listed with its family
    assert introspected_active(app, resource_server, spared["access_token"])
    assert refresh_works(app, *first_party, spared["refresh_token"])
    assert ended_events()[0].details["app_grants_ended"] == 1


def test_signing_out_revokes_the_refresh_tokens_issued_in_that_session(app, ada, first_party, resource_server):
    leaving, staying = signed_in(app, ada), signed_in(app, ada, SAFARI_IPHONE)
    left_behind = authorized_in(app, leaving, *first_party)
    kept = authorized_in(app, staying, *first_party)

    assert AuthActions(leaving).logout().status_code == 303

    assert not refresh_works(app, *first_party, left_behind["refresh_token"])
    assert not introspected_active(app, resource_server, left_behind["refresh_token"])
    assert not introspected_active(app, resource_server, left_behind["access_token"])
    assert refresh_works(app, *first_party, kept["refresh_token"])
    db.session.rollback()
    logout = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "auth.logout"))
    assert logout.details["app_grants_ended"] == 1


# --- bad input: nothing changes ---


def _forged_ids(app, ada, grace) -> dict[str, str]:
    """Ids that must all answer 404: another person's live session, an unknown one, junk."""
    return {
        "another person's": session_of(signed_in(app, grace)).id,
        "unknown": new_public_id(),
        "too long": "x" * 33,
        "markup": "<script>",
        "NUL byte": "%00",
        "non-ASCII": "é" * 10,
    }


@pytest.mark.parametrize("kind", ["another person's", "unknown", "too long", "markup", "NUL byte", "non-ASCII"])
def test_a_session_id_that_is_not_one_of_yours_is_404_and_changes_nothing(app, ada, grace, kind):
    here = signed_in(app, ada)
    forged = _forged_ids(app, ada, grace)[kind]
    before = audit_types()

    response = end(here, forged)

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    assert audit_types() == before
    db.session.rollback()
    assert db.session.scalar(select(UserSession).where(UserSession.revoked_at.is_not(None))) is None
    assert is_signed_in(here)


def test_another_persons_session_stays_signed_in_and_keeps_its_tokens(app, ada, grace, first_party):
    here = signed_in(app, ada)
    victim_browser = signed_in(app, grace)
    victim_tokens = authorized_in(app, victim_browser, *first_party)

    assert end(here, session_of(victim_browser).id).status_code == 404

    assert is_signed_in(victim_browser)
    assert refresh_works(app, *first_party, victim_tokens["refresh_token"])


def test_ending_an_already_ended_session_is_404(app, ada):
    here = signed_in(app, ada)
    target = session_of(signed_in(app, ada, SAFARI_IPHONE))
    assert end(here, target.id).status_code == 303
    ended_at = reload(target).revoked_at

    response = end(here, target.id)

    assert response.status_code == 404
    assert reload(target).revoked_at == ended_at
    assert len(ended_events()) == 1


def test_an_expired_session_cannot_be_ended_either(app, ada):
    here = signed_in(app, ada)
    target = session_of(signed_in(app, ada, SAFARI_IPHONE))
    target.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(seconds=1)
    db.session.commit()

    assert end(here, target.id).status_code == 404
    assert reload(target).revoked_at is None


@pytest.mark.parametrize("missing", ["csrf_token", "confirm"])
def test_without_the_csrf_token_or_the_confirmation_nothing_is_ended(app, ada, missing):
    here = signed_in(app, ada)
    there = signed_in(app, ada, SAFARI_IPHONE)
    before = audit_types()
    sent = {"with_csrf": missing != "csrf_token", "confirmed": missing != "confirm"}

    assert end(here, session_of(there).id, **sent).status_code == 400
    assert end(here, session_of(here).id, **sent).status_code == 400
    assert end_others(here, **sent).status_code == 400

    assert is_signed_in(there) and is_signed_in(here)
    assert audit_types() == before


def test_ending_another_session_is_asked_on_a_page_naming_it(app, ada):
    here = signed_in(app, ada)
    there = signed_in(app, ada, SAFARI_IPHONE)
    target = session_of(there).id
    assert f'href="/account/sessions/{target}/end"' in here.get("/account/sessions").get_data(as_text=True)

    page = here.get(f"/account/sessions/{target}/end")

    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "<h1>End this session?</h1>" in text and describe_device(SAFARI_IPHONE).browser in text
    assert 'name="confirm" type="hidden" value="1"' in text and 'class="button danger"' in text
    assert 'href="/account/sessions">Cancel</a>' in text
    assert is_signed_in(there)  # asking changes nothing


def test_ending_all_others_is_asked_on_a_page_counting_them(app, ada):
    here = signed_in(app, ada)
    others = [signed_in(app, ada, SAFARI_IPHONE), signed_in(app, ada, CHROME_ANDROID)]

    page = here.get("/account/sessions/end-others")

    assert page.status_code == 200
    text = " ".join(html.unescape(page.get_data(as_text=True)).split())
    assert "All 2 other browsers signed in to your account will be signed out" in text
    assert 'name="confirm" type="hidden" value="1"' in text
    assert all(is_signed_in(other) for other in others)


def test_this_browsers_own_session_and_other_peoples_have_no_confirmation_page(app, ada, grace):
    here = signed_in(app, ada)
    someone_else = signed_in(app, grace)

    own = here.get(f"/account/sessions/{session_of(here).id}/end")
    foreign = here.get(f"/account/sessions/{session_of(someone_else).id}/end")

    assert own.status_code == 303 and own.headers["Location"] == "/account/sessions"
    assert foreign.status_code == 404


def test_a_csrf_token_from_another_browser_is_refused(app, ada):
    here = signed_in(app, ada)
    there = signed_in(app, ada, SAFARI_IPHONE)

    data = {"csrf_token": page_token(there), "confirm": "1"}
    response = here.post(f"/account/sessions/{session_of(there).id}/end", data=data)

    assert response.status_code == 400
    assert is_signed_in(there)


def test_signed_out_browsers_cannot_end_sessions(app, ada, test_client):
    there = signed_in(app, ada)
    token = csrf_from(test_client.get("/login").get_data(as_text=True))

    response = test_client.post(f"/account/sessions/{session_of(there).id}/end", data={"csrf_token": token, "confirm": "1"})

    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert is_signed_in(there)
    assert ended_events() == []
