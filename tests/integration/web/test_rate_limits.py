"""Rate limits per IP and per account (NIST 3.2.2, ASVS 6.3.1), shared through Redis across workers."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from sqlalchemy import select

from app.extensions import db, limiter
from app.models import AuditEvent
from tests.conftest import DEFAULT_PASSWORD
from tests.integration.web.helpers import add_user, post_form
from tests.mailbox import free_port

STRONG_PASSWORD = "lantern quietly orbits marmalade"


def login(app, email: str, password: str = "not the password at all", ip: str = "198.51.100.1"):
    """One sign-in attempt from a fresh browser at ``ip``."""
    return post_form(app.test_client(), "/login", {"email": email, "password": password}, ip=ip)


def assert_limited(response) -> None:
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Slow down" in html and "Too many attempts" in html
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_sign_in_attempts_are_limited_per_ip(limited_app):
    app = limited_app(LIMIT_LOGIN_IP="3 per minute")
    statuses = [login(app, f"user{n}@example.com", ip="198.51.100.1").status_code for n in range(3)]
    assert statuses == [401, 401, 401]
    assert_limited(login(app, "user9@example.com", ip="198.51.100.1"))
    assert login(app, "user9@example.com", ip="198.51.100.2").status_code == 401


def test_a_limited_sign_in_is_not_even_checked(limited_app):
    app = limited_app(LIMIT_LOGIN_IP="1 per minute")
    add_user(app, "ada@example.com")
    login(app, "nobody@example.com")
    response = login(app, "ada@example.com", DEFAULT_PASSWORD)
    assert_limited(response)
    assert not any("idp_session" in cookie for cookie in response.headers.getlist("Set-Cookie"))
    with app.app_context():
        assert "auth.login" not in db.session.scalars(select(AuditEvent.event_type)).all()


def test_the_account_limit_counts_only_failures(limited_app):
    app = limited_app(LIMIT_LOGIN_ACCOUNT="3 per minute")
    add_user(app, "ada@example.com")
    statuses = [login(app, "ada@example.com", DEFAULT_PASSWORD, ip=f"198.51.100.{n}").status_code for n in range(5)]
    assert statuses == [303] * 5


def test_the_account_limit_holds_across_ips_and_letter_case(limited_app):
    app = limited_app(LIMIT_LOGIN_ACCOUNT="3 per minute")
    add_user(app, "ada@example.com")
    add_user(app, "bob@example.com")
    failures = [login(app, "ada@example.com", ip=f"203.0.113.{n}").status_code for n in range(1, 4)]
    assert failures == [401, 401, 401]

    # A fourth IP, the right password: the account is still being hammered, so no.
    assert_limited(login(app, "ada@example.com", DEFAULT_PASSWORD, ip="203.0.113.4"))
    assert_limited(login(app, "ADA@Example.com", DEFAULT_PASSWORD, ip="203.0.113.5"))
    # Another account from the same IP is unaffected.
    assert login(app, "bob@example.com", DEFAULT_PASSWORD, ip="203.0.113.4").status_code == 303


def register(app, email: str, ip: str = "198.51.100.1"):
    data = {"email": email, "password": STRONG_PASSWORD, "display_name": ""}
    return post_form(app.test_client(), "/register", data, ip=ip)


def test_registration_is_limited_per_ip(limited_app, mailbox):
    app = limited_app(LIMIT_REGISTER_IP="2 per minute")
    assert [register(app, f"new{n}@example.com").status_code for n in range(2)] == [200, 200]
    assert_limited(register(app, "new3@example.com"))
    assert mailbox.to("new3@example.com") == []
    assert register(app, "new4@example.com", ip="198.51.100.2").status_code == 200


def forgot(app, email: str, ip: str = "198.51.100.1"):
    return post_form(app.test_client(), "/forgot-password", {"email": email}, ip=ip)


def test_reset_requests_are_limited_per_ip(limited_app):
    app = limited_app(LIMIT_RESET_IP="2 per minute")
    assert [forgot(app, f"who{n}@example.com").status_code for n in range(2)] == [200, 200]
    assert_limited(forgot(app, "who3@example.com"))
    assert forgot(app, "who3@example.com", ip="198.51.100.2").status_code == 200


def test_reset_requests_are_limited_per_account_across_ips(limited_app, mailbox):
    app = limited_app(LIMIT_RESET_ACCOUNT="2 per minute")
    add_user(app, "ada@example.com")
    assert [forgot(app, "ada@example.com", ip=f"198.51.100.{n}").status_code for n in range(2)] == [200, 200]
    assert_limited(forgot(app, "Ada@example.com", ip="198.51.100.9"))
    assert len(mailbox.to("ada@example.com")) == 2
    assert forgot(app, "other@example.com", ip="198.51.100.9").status_code == 200


def test_limiter_storage_is_redis_whenever_a_redis_url_is_configured(app_factory):
    app = app_factory()
    redis_url = os.environ.get("IDP_TEST_REDIS_URL")
    assert app.config["RATELIMIT_STORAGE_URI"] == (redis_url or "memory://")


@pytest.mark.skipif(not os.environ.get("IDP_TEST_REDIS_URL"), reason="needs IDP_TEST_REDIS_URL")
def test_two_app_instances_sharing_redis_share_one_counter(limited_app):
    """What makes a limit hold across gunicorn workers: the counter lives in Redis, not in the process."""
    prefix = f"test-shared-{uuid.uuid4().hex}"
    worker_a = limited_app(LIMIT_LOGIN_IP="2 per minute", RATELIMIT_KEY_PREFIX=prefix)
    worker_b = limited_app(LIMIT_LOGIN_IP="2 per minute", RATELIMIT_KEY_PREFIX=prefix)
    storage_uri = worker_a.config["RATELIMIT_STORAGE_URI"]
    assert storage_uri.startswith("redis://") and storage_uri == worker_b.config["RATELIMIT_STORAGE_URI"]
    server = redis.Redis.from_url(storage_uri)
    try:
        assert login(worker_a, "a@example.com").status_code == 401
        assert login(worker_a, "b@example.com").status_code == 401
        assert server.keys(f"*{prefix}*"), "the counter is not in Redis"
        assert_limited(login(worker_b, "c@example.com"))
    finally:
        for key in server.scan_iter(f"*{prefix}*"):
            server.delete(key)
        server.close()


def test_an_unreachable_limiter_store_falls_back_to_limits_in_memory(limited_app, monkeypatch):
    # Redis down: sign-in keeps working and stays limited, per process (README "When Redis or PostgreSQL is down").
    monkeypatch.setattr(limiter, "_storage_dead", False)  # the Limiter is process-wide; don't leak the outage
    app = limited_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", LIMIT_LOGIN_IP="2 per minute")
    add_user(app, "ada@example.com")
    assert login(app, "ada@example.com", DEFAULT_PASSWORD).status_code == 303
    assert login(app, "ada@example.com", DEFAULT_PASSWORD).status_code == 303
    assert_limited(login(app, "ada@example.com", DEFAULT_PASSWORD))
