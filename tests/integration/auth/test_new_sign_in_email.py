"""The new-sign-in email: sent when both the browser (device cookie) and the network (/24, /48) are new."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.devices import coarse_network
from app.core.maintenance import prune_expired
from app.extensions import db
from app.models import SeenDevice
from app.models.base import utcnow
from tests.conftest import csrf_from, shown_time
from tests.integration.auth import test_session_limit as limit_tests
from tests.integration.auth.helpers import cookie_attributes, count
from tests.integration.auth.test_session_limit import sign_in
from tests.integration.mfa.conftest import add_totp

EMAIL = "ada@example.com"
SUBJECT = "New sign-in to your account"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def browser(app, ip: str, device_cookie: str | None = None):
    client = limit_tests.browser(app, FIREFOX, REMOTE_ADDR=ip)
    if device_cookie is not None:
        client.set_cookie("idp_device", device_cookie)
    return client


def device_of(client) -> str:
    return client.get_cookie("idp_device").value


@pytest.fixture
def home(app, create_user):
    """Ada signed in once from home: the browser and network now known."""
    create_user(email=EMAIL)
    client = browser(app, "192.0.2.10")
    sign_in(client)
    return client


def test_the_first_sign_in_sends_nothing_and_gives_a_long_lived_device_cookie(app, create_user, mailbox):
    create_user(email=EMAIL)

    response = sign_in(browser(app, "192.0.2.10"))

    [set_cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("idp_device=")]
    attributes = cookie_attributes(set_cookie)
    assert int(attributes["max-age"]) > 180 * 86400 and "httponly" in attributes and attributes["samesite"] == "Lax"
    assert count(SeenDevice) == 1
    assert mailbox.to(EMAIL) == []


def test_a_new_browser_on_a_new_network_is_mailed(app, home, mailbox):
    before = utcnow()

    sign_in(browser(app, "198.51.100.23"))

    mail = mailbox.wait_for(EMAIL, SUBJECT)
    assert "Firefox 128 on Windows 10" in mail.text
    assert "198.51.100.0/24" in mail.text and "198.51.100.23" not in mail.text
    assert mail.link("/account/sessions") == app.config["ISSUER"] + "/account/sessions"
    assert shown_time(app, before).rsplit(":", 1)[0] in mail.text and "UTC" in mail.text  # no profile zone: UTC, named
    assert [m.subject for m in mailbox.to(EMAIL)] == [SUBJECT]


def test_a_new_browser_on_a_known_network_is_not_mailed(app, home, mailbox):
    sign_in(browser(app, "192.0.2.200"))  # the same /24

    assert mailbox.to(EMAIL) == []
    assert count(SeenDevice) == 2


def test_a_known_browser_on_a_new_network_is_not_mailed(app, home, mailbox):
    sign_in(browser(app, "198.51.100.23", device_cookie=device_of(home)))

    assert mailbox.to(EMAIL) == []


def test_the_email_waits_for_the_second_factor(app, home, mailbox):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    totp = add_totp(app, db.session.scalar(select(User).where(User.email == EMAIL)))
    client = browser(app, "198.51.100.23")
    sign_in(client)
    assert mailbox.to(EMAIL) == []  # the password alone signs nobody in

    page = client.get("/mfa/challenge").get_data(as_text=True)
    client.post("/mfa/challenge/totp", data={"csrf_token": csrf_from(page), "totp_code": totp.now()})

    assert mailbox.wait_for(EMAIL, SUBJECT)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("::ffff:203.0.113.77", "203.0.113.0/24"),
        ("unknown", "unknown"),
    ],
)
def test_networks_are_coarse(address, network):
    assert coarse_network(address) == network


def test_a_pair_unused_for_long_is_forgotten_by_prune(app, home):
    row = db.session.query(SeenDevice).one()
    row.last_seen_at = utcnow() - timedelta(days=182)
    db.session.commit()

    assert prune_expired(app.config)["seen_devices"] == 1
