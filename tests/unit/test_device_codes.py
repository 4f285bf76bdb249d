"""Device codes (RFC 8628): user-code shape and normalization, storage, answers and the polling state machine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import Origin
from app.core.clients import ClientSpec, create_client
from app.core.protocol import DEVICE_CODE
from app.extensions import db
from app.models import DeviceCode, DeviceCodeStatus, OAuthClient, UserSession
from app.models.base import utcnow
from app.oauth import device
from app.security import new_public_id, token_digest

ORIGIN = Origin(ip_address="192.0.2.1", user_agent="pytest")


@pytest.fixture
def tv(app) -> OAuthClient:
    client, _ = create_client(
        ClientSpec(name="TV", is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE], scope="openid profile email")
    )
    db.session.commit()
    return client


@pytest.fixture
def signed_in(create_user):
    """A person and the session they answer from."""
    user = create_user(email="ada@example.com")
    session = UserSession(
        id=new_public_id(),
        token_digest=token_digest(new_public_id()),
        user_id=user.id,
        auth_time=utcnow() - timedelta(minutes=3),
        amr=["pwd"],
    )
    db.session.add(session)
    db.session.commit()
    return user, session


def issue(client: OAuthClient, scope: str = "openid") -> tuple[device.IssuedDeviceCode, DeviceCode]:
    issued = device.start_device_authorization(client, scope, [])
    db.session.commit()
    return issued, device.find_device_code(issued.device_code)


# --- user codes ---


@pytest.mark.parametrize(
    "typed", ["BCDF-GHJK", "bcdf-ghjk", "BCDFGHJK", "bcdfghjk", " bcdf ghjk ", "Bcdf -\tGhjk", "BC-DF-GH-JK"]
)
def test_user_codes_are_normalized_ignoring_case_dashes_and_spaces(typed):
    assert device.normalize_user_code(typed) == "BCDFGHJK"


@pytest.mark.parametrize(
    "typed", [None, "", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "BCDF_GHJK", "B" * 33, "ＢＣＤＦＧＨＪＫ"]
)
def test_anything_else_is_not_a_user_code(typed):
    assert device.normalize_user_code(typed) is None


def test_new_user_codes_use_eight_consonants_and_are_shown_with_a_dash():
    codes = {device.new_user_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == 8 and set(code) <= set("BCDFGHJKLMNPQRSTVWXZ") for code in codes)
    assert device.format_user_code("BCDFGHJK") == "BCDF-GHJK"


# --- scope ---


def test_device_scope_is_what_was_asked_for_within_the_registration(tv):
    assert device.device_scope(tv, "email openid email") == "email openid"
    assert device.device_scope(tv, None) == "openid profile email"
    assert device.device_scope(tv, "  ") == "openid profile email"
    assert device.device_scope(tv, "openid admin") is None
    assert device.device_scope(tv, "openid " * 200) is None


# --- issuing ---


def test_only_the_digest_of_the_device_code_is_stored(tv):
    issued, row = issue(tv)
    assert issued.device_code.startswith(device.DEVICE_CODE_PREFIX)
    assert len(issued.device_code) - len(device.DEVICE_CODE_PREFIX) >= 22  # at least 128 bits
    assert row.device_code_digest == token_digest(issued.device_code)
    stored = [str(getattr(row, column.key)) for column in DeviceCode.__table__.columns]
    assert not any(issued.device_code in value for value in stored)
    assert row.user_code == issued.user_code.replace("-", "")
    assert (row.status, row.scope, row.client_id) == (DeviceCodeStatus.PENDING, "openid", tv.id)


def test_lifetime_is_capped_at_ten_minutes_and_interval_comes_from_config(app, tv):
    app.config.update(DEVICE_CODE_TTL=3600, DEVICE_CODE_INTERVAL=7)
    issued, row = issue(tv)
    assert (issued.expires_in, issued.interval, row.interval) == (600, 7, 7)
    assert row.expires_at - row.created_at == timedelta(seconds=600)


def test_a_user_code_in_use_is_never_handed_out_twice(tv, monkeypatch):
    first, _ = issue(tv)
    drawn = iter([first.user_code.replace("-", ""), first.user_code.replace("-", ""), "BCDFGHJK"])
    monkeypatch.setattr(device, "new_user_code", lambda: next(drawn))
    second, row = issue(tv)
    assert second.user_code == "BCDF-GHJK" and row.user_code == "BCDFGHJK"
    assert len(db.session.scalars(select(DeviceCode)).all()) == 2


def test_long_expired_requests_are_pruned_when_new_ones_start(tv):
    _, old = issue(tv)
    _, recent = issue(tv)
    old.expires_at = utcnow() - device.EXPIRED_KEPT_FOR - timedelta(seconds=1)
    recent.expires_at = utcnow() - timedelta(seconds=1)  # still answers expired_token
    db.session.commit()
    old_id, recent_id = old.id, recent.id
    issue(tv)
    db.session.expire_all()
    assert db.session.get(DeviceCode, old_id) is None
    assert db.session.get(DeviceCode, recent_id) is not None


# --- the page ---


def test_only_live_pending_requests_of_enabled_clients_are_found(tv, signed_in):
    user, session = signed_in
    issued, row = issue(tv)
    assert device.find_pending_by_user_code(issued.user_code.lower()).id == row.id
    assert device.find_pending_by_user_code(issued.user_code, now=row.expires_at) is None
    tv_row = db.session.get(OAuthClient, tv.id)
    tv_row.is_disabled = True
    db.session.commit()
    assert device.find_pending_by_user_code(issued.user_code) is None
    tv_row.is_disabled = False
    assert device.approve_device_code(row, user, session, origin=ORIGIN)
    db.session.commit()
    assert device.find_pending_by_user_code(issued.user_code) is None


def test_approval_records_who_from_which_session_and_how_they_signed_in(tv, signed_in):
    user, session = signed_in
    _, row = issue(tv)
    assert device.approve_device_code(row, user, session, origin=ORIGIN)
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(DeviceCode, row.id)
    assert (row.status, row.user_id, row.session_id) == (DeviceCodeStatus.APPROVED, user.id, session.id)
    assert (row.auth_time, row.amr) == (session.auth_time, ["pwd"])


def test_a_request_is_answered_once_and_never_after_it_expired(tv, signed_in):
    user, session = signed_in
    _, row = issue(tv)
    assert device.deny_device_code(row, user, session, origin=ORIGIN)
    assert not device.approve_device_code(row, user, session, origin=ORIGIN)
    _, late = issue(tv)
    late.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not device.approve_device_code(late, user, session, origin=ORIGIN)


# --- polling ---


def test_poll_state_machine(tv, signed_in):
    user, session = signed_in
    _, row = issue(tv)
    now = utcnow()
    assert device.poll_device_code(row, now) is device.PollOutcome.PENDING
    assert device.poll_device_code(row, now + timedelta(seconds=4)) is device.PollOutcome.SLOW_DOWN
    db.session.refresh(row)
    assert row.interval == 10
    assert device.poll_device_code(row, now + timedelta(seconds=13)) is device.PollOutcome.SLOW_DOWN
    db.session.refresh(row)
    assert row.interval == 15
    assert device.poll_device_code(row, now + timedelta(seconds=28)) is device.PollOutcome.PENDING
    assert device.poll_device_code(row, row.expires_at) is device.PollOutcome.EXPIRED

    device.approve_device_code(row, user, session, origin=ORIGIN)
    db.session.refresh(row)
    assert device.poll_device_code(row) is device.PollOutcome.APPROVED
    assert device.redeem_device_code(row)
    assert not device.redeem_device_code(row)
    db.session.refresh(row)
    assert device.poll_device_code(row) is device.PollOutcome.REDEEMED
    assert device.poll_device_code(row, row.expires_at) is device.PollOutcome.REDEEMED


def test_a_denied_request_polls_as_access_denied_until_it_expires(tv, signed_in):
    user, session = signed_in
    _, row = issue(tv)
    device.deny_device_code(row, user, session, origin=ORIGIN)
    db.session.refresh(row)
    assert device.poll_device_code(row) is device.PollOutcome.DENIED
    assert device.poll_device_code(row, row.expires_at) is device.PollOutcome.EXPIRED
    assert not device.redeem_device_code(row)


@pytest.mark.parametrize("value", [None, "", "dc_unknown", "ac_" + "A" * 43, "dc_" + "A" * 200])
def test_unknown_device_codes_are_not_found(tv, value):
    issue(tv)
    assert device.find_device_code(value) is None
