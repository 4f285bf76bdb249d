"""IDP_TRUSTED_PROXIES: X-Forwarded-For is believed for exactly that many proxy hops, and not at all by default.

The address believed is what the audit log, the sessions page and the per-IP rate limits use. With no
proxy trusted, a client on the internet who sends its own X-Forwarded-For changes nothing. With one hop
trusted (nginx or a cloud load balancer in front), the address that proxy appended is the client's, and
anything the client itself put earlier in the header is ignored.
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, UserSession
from tests.conftest import csrf_from
from tests.integration.web.helpers import DEFAULT_PASSWORD, add_user

PROXY = "10.0.0.5"  # the load balancer's own address, as the app sees the TCP peer
CLIENT = "203.0.113.9"
SPOOFED = "198.51.100.66"


def sign_in(app, *, forwarded_for: str | None, password: str = DEFAULT_PASSWORD, peer: str = PROXY):
    client = app.test_client()
    environ = {"REMOTE_ADDR": peer}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    page = client.get("/login", environ_base=environ, headers=headers)
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "ada@example.com", "password": password}
    return client.post("/login", data=data, environ_base=environ, headers=headers)


def recorded_addresses(app, event_type: str) -> list[str | None]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.ip_address).where(AuditEvent.event_type == event_type)))


def session_addresses(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(UserSession.ip_address)))


def test_by_default_a_forwarded_for_header_from_the_client_is_ignored(app_factory):
    app = app_factory()
    add_user(app, "ada@example.com")

    assert sign_in(app, forwarded_for=SPOOFED, peer=CLIENT).status_code == 303

    assert recorded_addresses(app, "auth.login") == [CLIENT]
    assert session_addresses(app) == [CLIENT]


def test_behind_one_trusted_proxy_the_address_it_appended_is_the_clients(app_factory):
    app = app_factory(TRUSTED_PROXIES=1)
    add_user(app, "ada@example.com")

    # The client sent its own (spoofed) value; the proxy appended the address it saw.
    assert sign_in(app, forwarded_for=f"{SPOOFED}, {CLIENT}").status_code == 303

    assert recorded_addresses(app, "auth.login") == [CLIENT]
    assert session_addresses(app) == [CLIENT]


def test_failed_sign_ins_are_audited_with_the_believed_address(app_factory):
    app = app_factory(TRUSTED_PROXIES=1)
    add_user(app, "ada@example.com")

    assert sign_in(app, forwarded_for=CLIENT, password="not the password at all").status_code == 401

    assert recorded_addresses(app, "auth.login_failed") == [CLIENT]


def test_per_ip_limits_count_the_believed_address_not_the_proxy(limited_app):
    app = limited_app(TRUSTED_PROXIES=1, LIMIT_LOGIN_IP="2 per minute")
    add_user(app, "ada@example.com")
    wrong = "not the password at all"

    first_client = [sign_in(app, forwarded_for=CLIENT, password=wrong).status_code for _ in range(3)]
    other_client = sign_in(app, forwarded_for=SPOOFED, password=wrong).status_code

    # One client behind the proxy is limited; another behind the same proxy is not caught by it.
    assert first_client == [401, 401, 429] and other_client == 401


def test_without_a_trusted_proxy_a_changing_forwarded_for_does_not_escape_the_per_ip_limit(limited_app):
    app = limited_app(LIMIT_LOGIN_IP="2 per minute")
    add_user(app, "ada@example.com")
    wrong = "not the password at all"

    answers = [sign_in(app, forwarded_for=f"198.51.100.{n}", password=wrong, peer=CLIENT).status_code for n in range(1, 4)]

    assert answers == [401, 401, 429]
