"""SMS codes without HTTP pages: E.164 numbers, code format and storage, expiry, tries, single use,
the hourly limit, the admin restriction, and both senders (the HTTP one against a real local gateway)."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.audit import Origin
from app.core.factors import has_mfa
from app.core.sms_senders import HttpSmsSender, LogSmsSender, SmsSendError, mask_phone, sms_sender
from app.extensions import db
from app.mfa import sms as service
from app.models import AuditEvent, PhoneFactor, RecoveryCode, SmsCode, User
from app.models.base import utcnow
from app.models.mfa import SmsPurpose
from tests.integration.mfa.conftest import add_totp
from tests.integration.mfa.sms_gateway import SmsGateway
from tests.mailbox import free_port

ORIGIN = Origin(ip_address="198.51.100.7", user_agent="pytest")
PHONE = "+447700900123"


class RecordingSender:
    """The SmsSender interface, keeping the texts instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to_e164: str, text: str) -> None:
        self.sent.append((to_e164, text))

    @property
    def last_code(self) -> str:
        return re.match(r"([0-9]{6}) is your", self.sent[-1][1]).group(1)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    server = SmsGateway()
    server.start()
    yield server
    server.stop()


def verified_user(create_user, phone: str = PHONE) -> User:
    user = create_user()
    db.session.add(PhoneFactor(user_id=user.id, phone_e164=phone, verified_at=utcnow()))
    db.session.commit()
    return user


def send(user: User, sender: RecordingSender, purpose: SmsPurpose = SmsPurpose.SIGNIN, phone: str = PHONE) -> str:
    service.send_code(user, phone, purpose, sender=sender, origin=ORIGIN)
    db.session.commit()
    return sender.last_code


def check(user: User, code: str, purpose: SmsPurpose = SmsPurpose.SIGNIN, phone: str = PHONE) -> bool:
    accepted = service.check_code(user, phone, purpose, code)
    db.session.commit()
    return accepted


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def codes_of(user: User) -> list[SmsCode]:
    db.session.expire_all()
    return list(db.session.scalars(select(SmsCode).where(SmsCode.user_id == user.id).order_by(SmsCode.id)))


# --- phone numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+447700900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+49.30.1234567", "+49301234567"),
        (" +33 6 12 34 56 78 ", "+33612345678"),
        ("+12345678", "+12345678"),  # 8 digits, the shortest accepted
        ("+123456789012345", "+123456789012345"),  # 15 digits, E.164's longest
    ],
)
def test_numbers_with_a_plus_and_8_to_15_digits_become_e164(raw, e164):
    assert service.normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "07700 900123",  # no country code
        "0044 7700 900123",  # international prefix instead of +
        "+1234567",  # 7 digits
        "+1234567890123456",  # 16 digits
        "+0447700900123",  # no country code starts with 0
        "+44 7700 900123 ext 5",
        "+44-7700-9001a3",
        "++447700900123",
        "+44/7700/900123",
        "+٤٤٧٧٠٠٩٠٠١٢٣",  # Arabic-Indic digits: \d would take them, no gateway dials them
        "+44" + " " * 100 + "7700900123",
    ],
)
def test_anything_else_is_not_a_phone_number(raw):
    assert service.normalize_phone(raw) is None


def test_a_masked_number_shows_only_the_last_four_digits():
    assert mask_phone(PHONE) == "•••• 0123"


# --- codes: format, storage, expiry, tries, single use --------------------------------------------


def test_codes_are_six_random_digits():
    codes = {service.new_code() for _ in range(200)}
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    assert len(codes) > 190  # random, not a counter or a constant


def test_only_a_keyed_digest_of_the_code_is_stored(app, create_user, sender):
    user = verified_user(create_user)

    code = send(user, sender)

    [row] = codes_of(user)
    stored = [str(getattr(row, column.key)) for column in SmsCode.__table__.columns]
    assert not any(code in value for value in stored)
    assert re.fullmatch(r"[0-9a-f]{64}", row.code_digest)
    assert row.code_digest == service.code_digest(user.id, PHONE, code)
    # Keyed and bound: the same code for another person or number has another digest.
    assert row.code_digest not in (
        service.code_digest(user.id + 1, PHONE, code),
        service.code_digest(user.id, "+15555550100", code),
    )
    assert row.expires_at - row.created_at == timedelta(minutes=5)
    assert (row.purpose, row.phone_e164, row.attempts, row.consumed_at) == ("signin", PHONE, 0, None)


def test_the_text_carries_the_code_and_the_send_is_audited_without_it(app, create_user, sender):
    user = verified_user(create_user)

    code = send(user, sender)

    [(to, text)] = sender.sent
    assert to == PHONE and text.startswith(f"{code} is your {app.config['SERVICE_NAME']} sign-in code")
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "mfa.sms_sent"))
    assert event.details == {"purpose": "signin", "phone": "•••• 0123"}
    assert code not in json.dumps(event.details)


def test_the_right_code_is_accepted_once(app, create_user, sender):
    user = verified_user(create_user)
    code = send(user, sender)

    assert check(user, code)
    assert not check(user, code)
    assert codes_of(user)[0].consumed_at is not None


def test_an_expired_code_is_refused(app, create_user, sender):
    user = verified_user(create_user)
    code = send(user, sender)
    db.session.execute(update(SmsCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    assert not check(user, code)


def test_a_code_allows_five_tries_then_is_dead(app, create_user, sender):
    user = verified_user(create_user)
    code = send(user, sender)
    for _ in range(4):
        assert not check(user, wrong(code))

    assert check(user, code)  # the fifth try

    user2 = verified_user(create_user, phone="+15555550100")
    code2 = send(user2, sender, phone="+15555550100")
    for _ in range(5):
        assert not check(user2, wrong(code2), phone="+15555550100")
    assert not check(user2, code2, phone="+15555550100")  # the sixth try, right or not
    assert codes_of(user2)[0].attempts == 5


def test_only_the_newest_code_works(app, create_user, sender):
    user = verified_user(create_user)
    first = send(user, sender)
    second = send(user, sender)

    assert first == second or not check(user, first)
    assert check(user, second)


def test_a_code_works_only_for_its_purpose_and_number(app, create_user, sender):
    user = verified_user(create_user)
    code = send(user, sender, purpose=SmsPurpose.ENROL)

    assert not check(user, code, purpose=SmsPurpose.SIGNIN)
    assert not check(user, code, phone="+15555550100")
    assert check(user, code, purpose=SmsPurpose.ENROL)


def test_a_code_is_bound_to_its_person(app, create_user, sender):
    owner = verified_user(create_user)
    other = verified_user(create_user)
    code = send(owner, sender)

    assert not check(other, code)
    assert check(owner, code)


def test_at_most_five_texts_an_hour(app, create_user, sender):
    user = verified_user(create_user)
    for _ in range(5):
        send(user, sender)

    with pytest.raises(service.SmsRateLimited):
        send(user, sender)
    db.session.rollback()
    assert len(sender.sent) == 5 and len(codes_of(user)) == 5

    # Texts older than an hour no longer count.
    db.session.execute(
        update(SmsCode).where(SmsCode.id == codes_of(user)[0].id).values(created_at=utcnow() - timedelta(minutes=61))
    )
    db.session.commit()
    send(user, sender)
    assert len(sender.sent) == 6


def test_the_limits_are_settings(app, create_user, sender):
    app.config.update(SMS_SENDS_PER_HOUR=1, SMS_MAX_ATTEMPTS=1, SMS_CODE_SECONDS=60)
    user = verified_user(create_user)
    code = send(user, sender)
    assert "expires in 1 minute." in sender.sent[-1][1]
    assert codes_of(user)[0].expires_at - codes_of(user)[0].created_at == timedelta(seconds=60)
    with pytest.raises(service.SmsRateLimited):
        send(user, sender)
    db.session.rollback()
    assert not check(user, wrong(code))
    assert not check(user, code)


# --- enrolment and the admin restriction ---------------------------------------------------------


def test_enrolment_saves_the_number_unverified_until_the_code_comes_back(app, create_user, sender):
    user = create_user()
    service.start_enrolment(user, PHONE, sender=sender, origin=ORIGIN)
    db.session.commit()
    assert not service.has_verified_phone(user) and not has_mfa(user)

    assert not service.confirm_enrolment(user, wrong(sender.last_code), origin=ORIGIN)
    assert service.confirm_enrolment(user, sender.last_code, origin=ORIGIN)
    db.session.commit()

    assert service.has_verified_phone(user) and has_mfa(user)
    with pytest.raises(service.PhoneAlreadyEnrolled):
        service.start_enrolment(user, "+15555550100", sender=sender, origin=ORIGIN)


def test_a_new_number_replaces_an_unverified_one(app, create_user, sender):
    user = create_user()
    service.start_enrolment(user, PHONE, sender=sender, origin=ORIGIN)
    first_code = sender.last_code
    service.start_enrolment(user, "+15555550100", sender=sender, origin=ORIGIN)
    db.session.commit()

    assert [p.phone_e164 for p in db.session.scalars(select(PhoneFactor))] == ["+15555550100"]
    assert first_code == sender.last_code or not service.confirm_enrolment(user, first_code, origin=ORIGIN)


def test_an_admin_may_not_make_sms_their_only_factor(app, create_user, sender):
    admin = create_user(is_admin=True)
    assert not service.sms_allowed_for(admin)
    with pytest.raises(service.SmsRestricted):
        service.start_enrolment(admin, PHONE, sender=sender, origin=ORIGIN)
    assert sender.sent == []

    add_totp(app, admin)
    assert service.sms_allowed_for(admin)
    service.start_enrolment(admin, PHONE, sender=sender, origin=ORIGIN)
    assert service.sms_allowed_for(create_user())  # everyone else may


def test_removing_the_last_factor_removes_the_recovery_codes(app, create_user):
    user = verified_user(create_user)
    db.session.add(RecoveryCode(user_id=user.id, code_digest="0" * 64))
    db.session.commit()

    assert service.remove_phone(user, origin=ORIGIN) is True
    db.session.commit()

    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert service.remove_phone(user, origin=ORIGIN) is None


# --- senders -------------------------------------------------------------------------------------


@pytest.mark.parametrize("json_log", [False, True])
def test_the_log_sender_writes_a_readable_code_to_the_app_log(app_factory, capture_app_log, json_log):
    """app/log.py masks values after "code:"; the person running the server must still read the code."""
    app = app_factory(LOG_JSON=json_log)
    buffer = capture_app_log()
    with app.app_context():
        text = service.message_text("482913", SmsPurpose.SIGNIN)
        sms_sender().send(PHONE, text)

    line = buffer.getvalue()
    assert "app.sms" in line and "482913 is your" in line and "[redacted]" not in line
    assert "•••• 0123" in line and PHONE not in line  # the number itself stays out of the log


def test_the_http_sender_posts_a_twilio_style_form_with_basic_auth(gateway):
    url = gateway.url + "/2010-04-01/Accounts/{account}/Messages.json"
    sender = HttpSmsSender(url, "AC0123", "gateway-token-xyz", "+15005550006")

    sender.send(PHONE, "123456 is your code")

    [request] = gateway.requests
    assert request.method == "POST" and request.path == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form == {"To": [PHONE], "From": ["+15005550006"], "Body": ["123456 is your code"]}
    assert request.basic_auth == ("AC0123", "gateway-token-xyz")
    assert "gateway-token-xyz" not in repr(sender)


@pytest.mark.parametrize("status", [400, 401, 500, 503, 302])
def test_the_http_sender_raises_on_any_non_2xx_answer(gateway, status):
    gateway.fail_with = status
    sender = HttpSmsSender(gateway.url + "/send", "AC0123", "gateway-token-xyz", "+15005550006")

    with pytest.raises(SmsSendError) as raised:
        sender.send(PHONE, "123456 is your code")

    assert str(status) in str(raised.value) and "gateway-token-xyz" not in str(raised.value)
    assert len(gateway.requests) == 1  # a redirect is not followed with the credentials


def test_the_http_sender_raises_when_the_gateway_is_unreachable():
    sender = HttpSmsSender(f"http://127.0.0.1:{free_port()}/send", "AC0123", "gateway-token-xyz", "+15005550006")

    with pytest.raises(SmsSendError, match="unreachable") as raised:
        sender.send(PHONE, "123456 is your code")
    assert "gateway-token-xyz" not in str(raised.value)


def test_the_http_sender_takes_only_http_urls():
    with pytest.raises(SmsSendError):
        HttpSmsSender("file:///etc/passwd", "AC0123", "gateway-token-xyz", "+15005550006")


def test_the_sender_comes_from_the_config(app):
    assert isinstance(sms_sender(), LogSmsSender)  # the default

    app.config.update(SMS_SENDER="http", SMS_HTTP_URL="https://sms.example/{account}", SMS_HTTP_ACCOUNT="AC1", SMS_HTTP_TOKEN="t")
    with pytest.raises(SmsSendError, match="IDP_SMS_FROM"):
        sms_sender()
    app.config["SMS_FROM"] = "+15005550006"
    chosen = sms_sender()
    assert isinstance(chosen, HttpSmsSender) and chosen.url == "https://sms.example/AC1"

    app.config["SMS_SENDER"] = "carrier-pigeon"
    with pytest.raises(SmsSendError):
        sms_sender()


def test_production_refuses_the_log_sender(app):
    """A code written to a production log is a leaked credential."""
    app.config["ENV_NAME"] = "production"
    with pytest.raises(SmsSendError):
        sms_sender()


# --- parallel requests (PostgreSQL: in-memory SQLite gives every session the same connection) -------

needs_postgresql = pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (in-memory SQLite gives every session the same connection)",
)


def in_parallel(app, user_id: int, action: Callable[[User], object], workers: int = 8) -> list[object]:
    """Run `action` for the person in `workers` threads at once, each in its own transaction."""
    barrier = threading.Barrier(workers)

    def run(_: int) -> object:
        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait(timeout=10)
            try:
                result = action(user)
                db.session.commit()
                return result
            except service.SmsRateLimited:
                db.session.rollback()
                return "limited"

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(workers)))


@needs_postgresql
def test_parallel_uses_of_one_code_succeed_once(app, create_user, sender):
    user = verified_user(create_user)
    code = send(user, sender)

    results = in_parallel(app, user.id, lambda u: service.check_code(u, PHONE, SmsPurpose.SIGNIN, code))

    assert sorted(results) == [False] * 7 + [True]


@needs_postgresql
def test_parallel_guesses_get_no_more_than_five_tries(app, create_user, sender):
    user = verified_user(create_user)
    code = send(user, sender)

    in_parallel(app, user.id, lambda u: service.check_code(u, PHONE, SmsPurpose.SIGNIN, wrong(code)), workers=10)

    assert codes_of(user)[0].attempts == 5
    assert not check(user, code)


@needs_postgresql
def test_parallel_sends_stay_within_the_hourly_limit(app, create_user, sender):
    user = verified_user(create_user)

    results = in_parallel(
        app, user.id, lambda u: service.send_code(u, PHONE, SmsPurpose.SIGNIN, sender=sender, origin=ORIGIN), workers=8
    )

    assert results.count("limited") == 3 and len(sender.sent) == 5 and len(codes_of(user)) == 5
