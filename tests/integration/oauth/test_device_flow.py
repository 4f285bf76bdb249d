"""Device Authorization Grant (RFC 8628): the device polls, the person approves at /device, tokens come once."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.core.clients import ClientSpec, create_client
from app.core.protocol import DEVICE_CODE
from app.extensions import db
from app.models import AuditEvent, DeviceCode, DeviceCodeStatus, OAuthClient, RefreshToken, User, UserSession
from app.models.base import utcnow
from app.oauth.device import normalize_user_code
from app.security import hash_password
from tests.conftest import DEFAULT_PASSWORD, AuthActions, audit_types, csrf_from
from tests.integration.oauth.conftest import ALL_SCOPES, RelyingParty, count_rows, verify_jwt

USER_CODE_SHAPE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
HIDDEN_USER_CODE = re.compile(r'name="user_code" value="([^"]+)"')
STALE = "That request has expired or was already answered"
INVALID = "That code isn&#39;t valid or has expired"


# --- the device (an OAuth client) ---


@pytest.fixture
def tv(create_oauth_client) -> OAuthClient:
    """A public device client: no secret, authenticates with client_id only ("none")."""
    client, _ = create_oauth_client(
        name="Living Room TV",
        is_confidential=False,
        redirect_uris=[],
        grant_types=[DEVICE_CODE, "refresh_token"],
        scope=ALL_SCOPES,
    )
    return client


@pytest.fixture
def ada(create_user) -> User:
    return create_user(email="ada@example.com")


def start(rp: RelyingParty, client: OAuthClient | None, secret: str | None = None, method: str | None = None, **data):
    data.setdefault("scope", "openid profile email")
    return rp.post("/oauth/device_authorization", client, secret, data, method)


def started(rp: RelyingParty, client: OAuthClient, secret: str | None = None, **data) -> dict[str, Any]:
    response = start(rp, client, secret, **data)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def poll(rp: RelyingParty, client: OAuthClient, device_code: str | None, secret: str | None = None, method: str | None = None):
    return rp.post("/oauth/token", client, secret, {"grant_type": DEVICE_CODE, "device_code": device_code}, method)


def error_of(response: TestResponse) -> str:
    assert response.status_code in (400, 401), response.status_code
    return response.get_json()["error"]


# --- the person's browser ---


def enter(http: FlaskClient, user_code: str) -> TestResponse:
    page = http.get("/device")
    assert page.status_code == 200, page.status_code
    return http.post("/device", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "user_code": user_code})


def decide(http: FlaskClient, confirm_page: TestResponse, decision: str) -> TestResponse:
    html = confirm_page.get_data(as_text=True)
    match = HIDDEN_USER_CODE.search(html)
    assert match, "not the confirmation page"
    return http.post("/device/decision", data={"csrf_token": csrf_from(html), "user_code": match.group(1), "decision": decision})


def answer(auth: AuthActions, user: User, user_code: str, decision: str = "approve") -> TestResponse:
    assert auth.login(user.email).status_code == 303
    page = enter(auth.client, user_code)
    assert page.status_code == 200, page.get_data(as_text=True)
    response = decide(auth.client, page, decision)
    assert response.status_code == 303, response.status_code
    return response


# --- rows, and time moved instead of waited for ---


def row_for(user_code: str) -> DeviceCode:
    db.session.expire_all()
    return db.session.scalar(select(DeviceCode).where(DeviceCode.user_code == normalize_user_code(user_code)))


def shift(user_code: str, **seconds_back: int) -> None:
    """Move timestamps of a request into the past, e.g. shift(code, last_polled_at=6)."""
    row = row_for(user_code)
    for name, seconds in seconds_back.items():
        setattr(row, name, getattr(row, name) - timedelta(seconds=seconds))
    db.session.commit()


# --- the happy path ---


@pytest.mark.parametrize("method", ["none", "client_secret_basic", "client_secret_post"])
def test_the_device_gets_tokens_once_after_the_person_approves(app, rp, auth, create_oauth_client, ada, method):
    if method == "none":
        client, secret = create_oauth_client(is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"])
    else:
        client, secret = create_oauth_client(
            redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"], token_endpoint_auth_method=method
        )
    response = start(rp, client, secret, method)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    issued = response.get_json()
    issuer = app.config["ISSUER"]
    assert USER_CODE_SHAPE.match(issued["user_code"])
    assert issued["device_code"].startswith("dc_") and len(issued["device_code"]) >= 3 + 43  # 256 bits
    assert issued["verification_uri"] == f"{issuer}/device"
    assert issued["verification_uri_complete"] == f"{issuer}/device?user_code={issued['user_code']}"
    assert (issued["expires_in"], issued["interval"]) == (600, 5)
    row = row_for(issued["user_code"])
    assert row.device_code_digest == hashlib.sha256(issued["device_code"].encode()).hexdigest()
    assert row.user_code == issued["user_code"].replace("-", "")

    # The person follows verification_uri_complete, signs in, and comes back with the code filled in.
    http = rp.http
    to_login = http.get(issued["verification_uri_complete"].removeprefix(issuer))
    assert to_login.status_code == 303 and to_login.headers["Location"].startswith("/login?next=")
    back = auth.login(ada.email, next_url=f"/device?user_code={issued['user_code']}")
    assert back.headers["Location"] == f"/device?user_code={issued['user_code']}"
    entry = http.get(back.headers["Location"])
    assert f'value="{issued["user_code"]}"' in entry.get_data(as_text=True)
    confirm = http.post("/device", data={"csrf_token": csrf_from(entry.get_data(as_text=True)), "user_code": issued["user_code"]})
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert client.name in html and issued["user_code"] in html
    assert "See your email address and whether it is confirmed" in html and "See your name" in html
    done = decide(http, confirm, "approve")
    assert done.headers["Location"] == "/device/done?outcome=approved"
    assert "return to your device" in http.get(done.headers["Location"]).get_data(as_text=True)

    tokens = poll(rp, client, issued["device_code"], secret, method)
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    body = tokens.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "id_token", "refresh_token"}
    assert body["scope"] == "openid profile email"
    session_row = db.session.scalar(select(UserSession).where(UserSession.user_id == ada.id))
    access = verify_jwt(http, body["access_token"]).claims
    assert (access["sub"], access["client_id"]) == (str(ada.id), client.client_id)
    id_token = verify_jwt(http, body["id_token"]).claims
    assert (id_token["aud"], id_token["sid"], id_token["amr"]) == (client.client_id, session_row.id, ["pwd"])
    assert id_token["auth_time"] == int(session_row.auth_time.timestamp())
    assert rp.userinfo(body["access_token"]).get_json()["email"] == ada.email

    row = row_for(issued["user_code"])
    assert (row.status, row.user_id, row.session_id) == (DeviceCodeStatus.REDEEMED, ada.id, session_row.id)
    # RFC 8628 + docs/security.md: single use. A second poll after success gets nothing.
    again = poll(rp, client, issued["device_code"], secret, method)
    assert error_of(again) == "invalid_grant"
    assert count_rows(RefreshToken) == 1
    assert audit_types(ada)[-2:] == ["oauth.device_approved", "oauth.token_issued"]


def test_no_refresh_token_without_the_refresh_grant_and_no_id_token_without_openid(rp, auth, create_oauth_client, ada):
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE])
    issued = started(rp, client, scope="profile")
    answer(auth, ada, issued["user_code"])
    body = poll(rp, client, issued["device_code"]).get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["scope"] == "profile"


def test_without_a_scope_the_person_is_asked_about_the_registered_scope(rp, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE], scope="openid email")
    issued = started(rp, client, scope=None)
    assert row_for(issued["user_code"]).scope == "openid email"


# --- polling answers (RFC 8628 3.5) ---


def test_polling_before_the_person_answers_is_authorization_pending(rp, tv):
    issued = started(rp, tv)
    assert error_of(poll(rp, tv, issued["device_code"])) == "authorization_pending"
    shift(issued["user_code"], last_polled_at=5)
    assert error_of(poll(rp, tv, issued["device_code"])) == "authorization_pending"
    assert row_for(issued["user_code"]).interval == 5


def test_polling_faster_than_the_interval_is_slow_down_and_adds_five_seconds_each_time(rp, tv):
    issued = started(rp, tv)
    code = issued["user_code"]
    assert error_of(poll(rp, tv, issued["device_code"])) == "authorization_pending"
    assert error_of(poll(rp, tv, issued["device_code"])) == "slow_down"
    assert row_for(code).interval == 10
    # 6 s would have been enough before; the interval is 10 s now, so this is too fast again.
    shift(code, last_polled_at=6)
    assert error_of(poll(rp, tv, issued["device_code"])) == "slow_down"
    assert row_for(code).interval == 15
    shift(code, last_polled_at=15)
    assert error_of(poll(rp, tv, issued["device_code"])) == "authorization_pending"
    assert row_for(code).interval == 15


def test_an_expired_device_code_is_expired_token_and_its_user_code_is_refused(rp, auth, tv, ada):
    issued = started(rp, tv)
    shift(issued["user_code"], expires_at=601)
    assert error_of(poll(rp, tv, issued["device_code"])) == "expired_token"
    auth.login(ada.email)
    page = enter(rp.http, issued["user_code"])
    assert page.status_code == 400 and INVALID in page.get_data(as_text=True)
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.PENDING


def test_an_approved_code_that_expired_before_the_poll_gives_no_tokens(rp, auth, tv, ada):
    issued = started(rp, tv)
    answer(auth, ada, issued["user_code"])
    shift(issued["user_code"], expires_at=601)
    assert error_of(poll(rp, tv, issued["device_code"])) == "expired_token"
    assert count_rows(RefreshToken) == 0


def test_deny_gives_access_denied_and_no_tokens(rp, auth, tv, ada):
    issued = started(rp, tv)
    done = answer(auth, ada, issued["user_code"], "deny")
    assert done.headers["Location"] == "/device/done?outcome=denied"
    assert "Nothing was shared" in rp.http.get(done.headers["Location"]).get_data(as_text=True)
    assert error_of(poll(rp, tv, issued["device_code"])) == "access_denied"
    assert error_of(poll(rp, tv, issued["device_code"])) == "access_denied"
    row = row_for(issued["user_code"])
    assert (row.status, row.user_id) == (DeviceCodeStatus.DENIED, ada.id)
    assert "oauth.device_denied" in audit_types(ada) and "oauth.token_issued" not in audit_types(ada)


def test_a_device_code_is_redeemable_only_by_the_client_it_was_issued_to(rp, auth, tv, ada, create_oauth_client):
    other, _ = create_oauth_client(is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE])
    issued = started(rp, tv)
    answer(auth, ada, issued["user_code"])
    assert error_of(poll(rp, other, issued["device_code"])) == "invalid_grant"
    # The stolen code was not consumed by the failed attempt: its own client still gets the tokens.
    assert poll(rp, tv, issued["device_code"]).status_code == 200


@pytest.mark.parametrize("device_code", ["dc_" + "A" * 43, "not-a-device-code", "dc_" + "x" * 500])
def test_an_unknown_device_code_is_invalid_grant(rp, tv, device_code):
    assert error_of(poll(rp, tv, device_code)) == "invalid_grant"


def test_a_missing_device_code_is_invalid_request(rp, tv):
    assert error_of(poll(rp, tv, None)) == "invalid_request"


def test_a_person_who_cant_receive_tokens_anymore_gets_none(rp, auth, tv, ada):
    issued = started(rp, tv)
    answer(auth, ada, issued["user_code"])
    ada.is_disabled = True
    db.session.commit()
    assert error_of(poll(rp, tv, issued["device_code"])) == "invalid_grant"
    assert count_rows(RefreshToken) == 0


# --- client authentication and policy at the device authorization endpoint ---


def test_a_client_without_the_device_grant_is_unauthorized_client(rp, auth, tv, ada, create_oauth_client):
    web_app, secret = create_oauth_client()  # authorization_code + refresh_token only
    assert error_of(start(rp, web_app, secret)) == "unauthorized_client"
    # Nor may it poll with a device code of a client that has the grant.
    issued = started(rp, tv)
    answer(auth, ada, issued["user_code"])
    assert error_of(poll(rp, web_app, issued["device_code"], secret)) == "unauthorized_client"
    assert count_rows(DeviceCode) == 1


def test_device_authorization_requires_client_authentication(rp, create_oauth_client):
    client, secret = create_oauth_client(redirect_uris=[], grant_types=[DEVICE_CODE])
    no_client = rp.http.post("/oauth/device_authorization", data={"scope": "openid"})
    assert no_client.status_code == 401 and no_client.get_json()["error"] == "invalid_client"
    assert error_of(start(rp, client, None, "none")) == "invalid_client"  # a confidential client must use its secret
    assert error_of(start(rp, client, "cs_wrong", "client_secret_basic")) == "invalid_client"
    disabled, disabled_secret = create_oauth_client(redirect_uris=[], grant_types=[DEVICE_CODE], is_disabled=True)
    assert error_of(start(rp, disabled, disabled_secret)) == "invalid_client"
    assert count_rows(DeviceCode) == 0


def test_device_authorization_ignores_the_browser_session(rp, auth, tv, ada):
    """A machine endpoint: a signed-in cookie authenticates no client (docs/security.md)."""
    auth.login(ada.email)
    response = rp.http.post("/oauth/device_authorization", data={"scope": "openid"})
    assert response.status_code == 401


def test_a_scope_the_client_is_not_registered_for_is_invalid_scope(rp, tv):
    assert error_of(start(rp, tv, scope="openid admin")) == "invalid_scope"
    assert count_rows(DeviceCode) == 0


def test_device_authorization_takes_only_form_encoded_requests(rp, tv):
    response = rp.http.post("/oauth/device_authorization", json={"client_id": tv.client_id})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


# --- the /device page ---


@pytest.mark.parametrize("typed", ["{lower}", "{bare}", "{bare_lower}", " {code} ", "{spaced}", "{first}  -  {second}"])
def test_the_typed_code_ignores_case_dashes_and_spaces(rp, auth, tv, ada, typed):
    issued = started(rp, tv)
    code = issued["user_code"]
    first, second = code.split("-")
    variants = {
        "code": code,
        "lower": code.lower(),
        "bare": first + second,
        "bare_lower": (first + second).lower(),
        "spaced": f"{first} {second}".lower(),
        "first": first,
        "second": second.lower(),
    }
    auth.login(ada.email)
    page = enter(rp.http, typed.format(**variants))
    assert page.status_code == 200 and tv.name in page.get_data(as_text=True)
    assert decide(rp.http, page, "approve").status_code == 303
    assert poll(rp, tv, issued["device_code"]).status_code == 200


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("BCDF-GHJK", INVALID),
        ("AEIO-UBCD", INVALID),  # vowels are never in a user code
        ("BCDF-GHJ", INVALID),
        ("B" * 40, "longer than a device code"),
        ("", "Enter the code shown on your device"),
    ],
)
def test_an_unknown_code_shows_a_friendly_error_and_is_recorded(rp, auth, tv, ada, typed, shown):
    started(rp, tv)
    auth.login(ada.email)
    page = enter(rp.http, typed)
    assert page.status_code == 400
    assert shown in page.get_data(as_text=True)
    assert ("oauth.device_entry_failed" in audit_types(ada)) == bool(typed)
    assert db.session.scalar(select(DeviceCode.status)) == DeviceCodeStatus.PENDING


def test_the_page_requires_sign_in_and_keeps_the_code(rp, tv):
    issued = started(rp, tv)
    lower = issued["user_code"].lower()
    response = rp.http.get(f"/device?user_code={lower}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/login?next=/device?user_code%3D{issued['user_code']}"
    # Junk in user_code is not carried into next.
    junk = rp.http.get("/device?user_code=<script>")
    assert junk.headers["Location"] == "/login?next=/device"
    token = csrf_from(rp.http.get("/login").get_data(as_text=True))
    for path in ("/device", "/device/decision"):
        data = {"csrf_token": token, "user_code": issued["user_code"], "decision": "approve"}
        response = rp.http.post(path, data=data)
        assert response.status_code == 303 and response.headers["Location"].startswith("/login?next=")
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.PENDING


def test_approve_without_a_csrf_token_is_refused_and_approves_nothing(rp, auth, tv, ada):
    issued = started(rp, tv)
    auth.login(ada.email)
    page = enter(rp.http, issued["user_code"])
    assert page.status_code == 200
    response = rp.http.post("/device/decision", data={"user_code": issued["user_code"], "decision": "approve"})
    assert response.status_code == 400
    wrong = rp.http.post(
        "/device/decision", data={"csrf_token": "forged", "user_code": issued["user_code"], "decision": "approve"}
    )
    assert wrong.status_code == 400
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.PENDING
    assert error_of(poll(rp, tv, issued["device_code"])) == "authorization_pending"


def test_an_unknown_decision_is_refused(rp, auth, tv, ada):
    issued = started(rp, tv)
    auth.login(ada.email)
    page = enter(rp.http, issued["user_code"])
    assert decide(rp.http, page, "maybe").status_code == 400
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.PENDING


def test_a_request_answered_in_another_tab_cant_be_answered_again(rp, auth, tv, ada):
    issued = started(rp, tv)
    auth.login(ada.email)
    first_tab = enter(rp.http, issued["user_code"])
    second_tab = enter(rp.http, issued["user_code"])
    assert decide(rp.http, first_tab, "deny").status_code == 303
    late = decide(rp.http, second_tab, "approve")
    assert late.status_code == 400 and STALE in late.get_data(as_text=True)
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.DENIED


def test_a_request_that_expired_on_the_review_page_cant_be_approved(rp, auth, tv, ada):
    issued = started(rp, tv)
    auth.login(ada.email)
    page = enter(rp.http, issued["user_code"])
    shift(issued["user_code"], expires_at=601)
    late = decide(rp.http, page, "approve")
    assert late.status_code == 400 and STALE in late.get_data(as_text=True)
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.PENDING


def test_an_unverified_person_is_stopped_like_at_authorize(rp, auth, tv, create_user):
    bob = create_user(email="bob@example.com", verified=False)
    issued = started(rp, tv)
    auth.login(bob.email)
    page = rp.http.get(f"/device?user_code={issued['user_code']}")
    assert page.status_code == 403 and "Confirm your email address" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    for path in ("/device", "/device/decision"):
        response = rp.http.post(path, data={"csrf_token": token, "user_code": issued["user_code"], "decision": "approve"})
        assert response.status_code == 403
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.PENDING


def test_a_self_registered_client_is_flagged_on_the_review_page(rp, auth, ada, create_oauth_client):
    client, _ = create_oauth_client(
        is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE], is_dynamically_registered=True
    )
    issued = started(rp, client)
    auth.login(ada.email)
    assert "registered itself" in enter(rp.http, issued["user_code"]).get_data(as_text=True)


def test_a_code_of_a_disabled_client_cant_be_entered(rp, auth, tv, ada):
    issued = started(rp, tv)
    db.session.get(OAuthClient, tv.id).is_disabled = True
    db.session.commit()
    auth.login(ada.email)
    assert enter(rp.http, issued["user_code"]).status_code == 400


def test_discovery_advertises_the_device_endpoint_and_grant(app, test_client):
    metadata = test_client.get("/.well-known/openid-configuration").get_json()
    assert metadata["device_authorization_endpoint"] == f"{app.config['ISSUER']}/oauth/device_authorization"
    assert DEVICE_CODE in metadata["grant_types_supported"]


# --- rate limits on code entry (RFC 8628 5.1) ---


def _limited_setup(app: Flask) -> tuple[str, str]:
    """A verified person and a device request in ``app``'s database: (email, user_code)."""
    with app.app_context():
        db.session.add(User(email="ada@example.com", password_hash=hash_password(DEFAULT_PASSWORD), email_verified_at=utcnow()))
        client, _ = create_client(
            ClientSpec(name="TV", is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE], scope="openid")
        )
        db.session.commit()
        response = app.test_client().post("/oauth/device_authorization", data={"client_id": client.client_id})
        return "ada@example.com", response.get_json()["user_code"]


def _entry(http: FlaskClient, user_code: str, ip: str) -> int:
    page = http.get("/device", environ_base={"REMOTE_ADDR": ip})
    token = csrf_from(page.get_data(as_text=True))
    return http.post("/device", data={"csrf_token": token, "user_code": user_code}, environ_base={"REMOTE_ADDR": ip}).status_code


def test_code_entry_is_limited_per_ip_and_counts_every_attempt(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, LIMIT_DEVICE_ENTRY_IP="3 per minute", LIMIT_DEVICE_ENTRY_ACCOUNT="100 per minute")
    email, user_code = _limited_setup(app)
    http = app.test_client()
    AuthActions(http).login(email)
    statuses = [_entry(http, code, "198.51.100.1") for code in ("BCDF-GHJK", user_code, "BCDF-GHJL")]
    assert statuses == [400, 200, 400]
    assert _entry(http, user_code, "198.51.100.1") == 429
    assert _entry(http, user_code, "198.51.100.2") == 200


def test_code_entry_is_limited_per_account_across_ips_and_shared_with_the_answer(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, LIMIT_DEVICE_ENTRY_IP="100 per minute", LIMIT_DEVICE_ENTRY_ACCOUNT="2 per minute")
    email, user_code = _limited_setup(app)
    http = app.test_client()
    AuthActions(http).login(email)
    assert [_entry(http, "BCDF-GHJK", f"203.0.113.{n}") for n in (1, 2)] == [400, 400]
    assert _entry(http, user_code, "203.0.113.3") == 429
    token = csrf_from(http.get("/account/").get_data(as_text=True))
    answer_post = http.post("/device/decision", data={"csrf_token": token, "user_code": user_code, "decision": "approve"})
    assert answer_post.status_code == 429
    with app.app_context():
        assert db.session.scalar(select(DeviceCode.status)) == DeviceCodeStatus.PENDING


# --- parallel polls: one token response ---


@pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (set IDP_TEST_DATABASE_URL)",
)
def test_parallel_polls_of_an_approved_code_yield_one_token_response(app, rp, auth, tv, ada):
    issued = started(rp, tv)
    answer(auth, ada, issued["user_code"])
    workers = 8
    barrier = threading.Barrier(workers)

    def attempt(_: int) -> TestResponse:
        with app.app_context():
            http = app.test_client()
            barrier.wait(timeout=10)
            return http.post(
                "/oauth/token", data={"grant_type": DEVICE_CODE, "device_code": issued["device_code"], "client_id": tv.client_id}
            )

    with ThreadPoolExecutor(workers) as pool:
        responses = list(pool.map(attempt, range(workers)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (workers - 1)
    assert {r.get_json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    assert count_rows(RefreshToken) == 1
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event_type == "oauth.token_issued")) == 1
    )
    assert row_for(issued["user_code"]).status == DeviceCodeStatus.REDEEMED


@pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (set IDP_TEST_DATABASE_URL)",
)
def test_parallel_polls_of_a_pending_code_pass_the_interval_check_once(app, rp, tv):
    issued = started(rp, tv)
    workers = 6
    barrier = threading.Barrier(workers)

    def attempt(_: int) -> str:
        with app.app_context():
            http = app.test_client()
            barrier.wait(timeout=10)
            data = {"grant_type": DEVICE_CODE, "device_code": issued["device_code"], "client_id": tv.client_id}
            return error_of(http.post("/oauth/token", data=data))

    with ThreadPoolExecutor(workers) as pool:
        errors = sorted(pool.map(attempt, range(workers)))
    assert errors == ["authorization_pending"] + ["slow_down"] * (workers - 1)
    assert row_for(issued["user_code"]).interval == 5 + 5 * (workers - 1)
