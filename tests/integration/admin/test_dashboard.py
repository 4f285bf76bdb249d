"""The console dashboard: headline counts and the server-drawn chart of sign-ins per day.

Also holds the console fixtures the other modules of this part import (an admin who passed the
TOTP challenge, a signed-in member, an admin whose second factor is too old).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, ClientCredentialsUsage, OAuthClient, User, UserSession
from app.models.base import utcnow
from tests.conftest import AuthActions, csrf_from
from tests.integration.mfa.conftest import add_totp


@dataclass
class Signed:
    client: FlaskClient
    user: User

    @property
    def session(self) -> UserSession:
        db.session.expire_all()
        query = select(UserSession).where(UserSession.user_id == self.user.id, UserSession.revoked_at.is_(None))
        return db.session.scalar(query.order_by(UserSession.created_at.desc()))


def sign_in_admin(app, create_user, email: str) -> Signed:
    """An admin through the real pages: password, then the TOTP challenge (the console's guard wants both)."""
    user = create_user(email=email, is_admin=True)
    totp = add_totp(app, user)
    client = app.test_client()
    AuthActions(client).login(email)
    html = client.get("/mfa/challenge").get_data(as_text=True)
    answered = client.post("/mfa/challenge/totp", data={"csrf_token": csrf_from(html), "totp_code": totp.now()})
    assert answered.status_code in (302, 303), "the TOTP challenge was not passed"
    return Signed(client, user)


@pytest.fixture
def admin(app, create_user) -> Signed:
    return sign_in_admin(app, create_user, "root@example.com")


@pytest.fixture
def member(app, create_user) -> Signed:
    user = create_user(email="member@example.com")
    client = app.test_client()
    AuthActions(client).login("member@example.com")
    return Signed(client, user)


@pytest.fixture
def stale_admin(app, create_user) -> Signed:
    """An admin whose second factor was proven longer ago than ADMIN_MFA_MAX_AGE_SECONDS."""
    signed = sign_in_admin(app, create_user, "stale@example.com")
    row = signed.session
    row.auth_time = utcnow() - timedelta(seconds=app.config["ADMIN_MFA_MAX_AGE_SECONDS"] + 60)
    db.session.commit()
    return signed


def assert_guarded(
    app, member: Signed, stale_admin: Signed, method: str, path: str, *, leak: str, data: dict | None = None
) -> None:
    """Anonymous -> sign-in, member -> 403 without ``leak`` (text only the real page has), stale MFA -> the challenge.

    POSTs carry a valid CSRF token, so it is the guard that refuses them, not the CSRF check.
    """

    def send(client: FlaskClient, token_page: str):
        if method == "GET":
            return client.get(path)
        token = csrf_from(client.get(token_page).get_data(as_text=True))
        return client.post(path, data={**(data or {}), "csrf_token": token})

    anonymous = send(app.test_client(), "/login")
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["Location"]
    refused = send(member.client, "/account/")
    assert refused.status_code == 403
    assert leak not in refused.get_data(as_text=True)
    stepped = send(stale_admin.client, "/account/")
    assert stepped.status_code in (302, 303) and "/mfa/challenge" in stepped.headers["Location"]


def add_event(event_type: str, *, at=None, **columns) -> AuditEvent:
    event = AuditEvent(event_type=event_type, created_at=at or utcnow(), details=columns.pop("details", {}), **columns)
    db.session.add(event)
    return event


def chart_titles(html: str) -> dict[str, str]:
    """'Sign-ins, 2026-01-02' -> '3' from the per-point <title>s of the SVG."""
    return dict(re.findall(r"<title>([^<]+?): (\d+)</title>", html))


# Authorization


def test_the_dashboard_is_guarded(app, member, stale_admin):
    assert_guarded(app, member, stale_admin, "GET", "/admin/", leak='id="count-users"')


# Counts


def test_the_counts_show_users_live_sessions_clients_and_todays_tokens(app, admin, member, create_user):
    create_user(email="quiet@example.com")
    client = OAuthClient(client_id="counted", name="Counted", redirect_uris=[], grant_types=[], scope="openid")
    db.session.add(client)
    db.session.flush()
    ended = UserSession(id="ended", token_digest="x" * 64, user_id=member.user.id, revoked_at=utcnow())
    db.session.add(ended)
    add_event("oauth.token_issued", details={"client_id": "counted"})
    add_event("oauth.token_issued", details={"client_id": "counted"})
    add_event("oauth.token_issued", at=utcnow() - timedelta(days=2))  # not today
    minute = utcnow().replace(second=0, microsecond=0)
    db.session.add(ClientCredentialsUsage(client_id=client.id, minute=minute, count=5))
    db.session.add(ClientCredentialsUsage(client_id=client.id, minute=minute - timedelta(days=3), count=50))
    db.session.commit()

    html = admin.client.get("/admin/").get_data(as_text=True)

    assert re.search(r'id="count-users">3<', html)  # admin, member, quiet
    assert re.search(r'id="count-sessions">2<', html)  # admin's and member's; the ended one is not live
    assert re.search(r'id="count-clients">1<', html)
    assert re.search(r'id="count-tokens">7<', html)  # two audited user tokens + five machine tokens


def test_idle_sessions_are_not_counted_as_active(app, admin, member):
    row = member.session
    row.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(minutes=1)
    db.session.commit()

    html = admin.client.get("/admin/").get_data(as_text=True)

    assert re.search(r'id="count-sessions">1<', html)


# The chart


def test_the_chart_counts_sign_ins_and_failures_per_day_as_inline_svg(app, admin):
    today = utcnow().replace(hour=12)
    two_days_ago = today - timedelta(days=2)
    for _ in range(3):
        add_event("auth.login", at=two_days_ago)
    add_event("auth.login_failed", at=two_days_ago)
    add_event("auth.login_failed", at=today - timedelta(days=40))  # outside the 30-day window
    db.session.commit()

    response = admin.client.get("/admin/")
    html = response.get_data(as_text=True)
    titles = chart_titles(html)

    assert response.status_code == 200
    chart = html[html.index("<svg") : html.rindex("</svg>")]
    assert "<polyline" in chart and "<script" not in chart  # the page's own deferred scripts are not the chart's
    day = two_days_ago.date().isoformat()
    assert titles[f"Sign-ins, {day}"] == "3"
    assert titles[f"Failed sign-ins, {day}"] == "1"
    # Today's sign-in is the admin's own (the fixture signed in through the pages).
    assert titles[f"Sign-ins, {today.date().isoformat()}"] == "1"
    assert sum(1 for key in titles if key.startswith("Sign-ins, ")) == 30
    assert sum(int(value) for key, value in titles.items() if key.startswith("Failed")) == 1


def test_the_chart_has_a_table_with_the_same_numbers(app, admin):
    yesterday = utcnow() - timedelta(days=1)
    add_event("auth.login_failed", at=yesterday)
    add_event("auth.login_failed", at=yesterday)
    db.session.commit()

    html = admin.client.get("/admin/").get_data(as_text=True)

    row = re.search(rf'datetime="{yesterday.date().isoformat()}">[^<]+</time></th>\s*<td>(\d+)</td><td>(\d+)</td>', html)
    assert row and row.groups() == ("0", "2")


def test_the_page_loads_no_script_or_outside_resource(app, admin):
    html = admin.client.get("/admin/").get_data(as_text=True)

    scripts = re.findall(r"<script[^>]*>", html)
    # The app's own files only; data- attributes carry the texts a script shows, in the page's language.
    own_script = re.compile(r'<script src="/static/[\w.-]+\.js" defer(\s+data-[\w-]+="[^"<]*")*>')
    assert all(own_script.fullmatch(tag) for tag in scripts), scripts
    assert not re.search(r'(src|href)="https?://', html)


def test_chart_labels_are_escaped():
    from datetime import date

    from app.admin.svg_chart import Line, daily_line_chart

    svg = str(daily_line_chart("<b>", [date(2026, 1, 1), date(2026, 1, 2)], [Line("<x>", [1, 2])]))

    assert "<b>" not in svg and "<x>" not in svg and "&lt;x&gt;" in svg
