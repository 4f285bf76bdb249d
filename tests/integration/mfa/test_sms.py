"""Text-message codes through the pages, sent over HTTP to a local stand-in for a Twilio-style gateway:
enrol a number, sign in with a texted code, the limits, gateway failures, removal."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from app.core.factors import has_mfa
from app.extensions import db
from app.models import AuditEvent, PhoneFactor, SmsCode, UserSession
from app.models.base import utcnow
from tests.conftest import audit_types, csrf_from
from tests.integration.mfa.conftest import NEW_CODES_URL, first_codes_then
from tests.integration.mfa.sms_gateway import SmsGateway

PHONE = "+447700900123"
ACCOUNT = "AC0123456789"
GATEWAY_TOKEN = "gateway-token-not-for-logs"
FROM = "+15005550006"


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    server = SmsGateway()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(app_factory: Callable[..., Flask], gateway: SmsGateway) -> Iterator[Flask]:
    """The app with the HTTP sender pointed at the local gateway (replaces the shared `app` fixture)."""
    app = app_factory(
        SMS_SENDER="http",
        SMS_HTTP_URL=gateway.url + "/2010-04-01/Accounts/{account}/Messages.json",
        SMS_HTTP_ACCOUNT=ACCOUNT,
        SMS_HTTP_TOKEN=GATEWAY_TOKEN,
        SMS_FROM=FROM,
    )
    with app.app_context():
        yield app


def text(response) -> str:
    """The page as a person reads it (apostrophes come escaped in the HTML)."""
    return html.unescape(response.get_data(as_text=True))


def phone_of(user) -> PhoneFactor | None:
    db.session.expire_all()
    return db.session.scalar(select(PhoneFactor).where(PhoneFactor.user_id == user.id))


def live_session(user) -> UserSession:
    db.session.expire_all()
    return db.session.scalar(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.created_at.desc())
    )


def post_from(client, page: str, path: str, **data: str):
    """POST to `path` with the CSRF token of `page`, as its form would."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def start_enrolment(client, phone: str = PHONE):
    return post_from(client, "/mfa/", "/mfa/sms/setup", sms_phone=phone)


def confirm_enrolment(client, code: str):
    return post_from(client, "/mfa/", "/mfa/sms/confirm", sms_code=code)


def enrol(client, gateway: SmsGateway, phone: str = PHONE) -> None:
    assert start_enrolment(client, phone).status_code == 303
    assert confirm_enrolment(client, gateway.last_code(phone)).status_code == 303


def send_code(client):
    return post_from(client, "/mfa/challenge", "/mfa/challenge/sms/send")


def answer(client, code: str):
    return post_from(client, "/mfa/challenge", "/mfa/challenge/sms", sms_code=code)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def ada(create_user, auth):
    user = create_user(email="ada@example.com")
    auth.login("ada@example.com")
    return user


@pytest.fixture
def enrolled(ada, auth, gateway):
    """Ada verified her number through the pages, then signed out and in again: the challenge waits."""
    enrol(auth.client, gateway)
    auth.logout()
    assert auth.login("ada@example.com").headers["Location"].endswith("/mfa/challenge")
    gateway.requests.clear()
    return ada


# Enrolment


def test_the_security_page_offers_a_phone_number_field(ada, auth):
    page = auth.client.get("/mfa/").get_data(as_text=True)

    assert 'id="factor-sms"' in page and "Text message" in page
    assert re.search(r'<input[^>]*id="sms_phone"[^>]*name="sms_phone"[^>]*type="tel"', page)


def test_with_texts_turned_off_no_phone_can_be_added_and_nothing_is_sent(ada, auth, app, gateway):
    """IDP_SMS_SENDER=off (production's default): the page says so and a forged form is refused."""
    app.config["SMS_SENDER"] = "off"
    page = text(auth.client.get("/mfa/"))
    assert 'id="sms-off"' in page and 'id="sms_phone"' not in page

    response = start_enrolment(auth.client)

    assert response.status_code == 400
    assert "This service doesn't send text messages" in text(response)
    assert phone_of(ada) is None and gateway.requests == []


def test_a_number_gets_a_code_over_the_gateway_in_the_twilio_shape(ada, auth, gateway):
    response = start_enrolment(auth.client, "+44 (7700) 900-123")

    assert response.status_code == 303 and response.headers["Location"].endswith("/mfa/")
    [request] = gateway.requests
    assert request.method == "POST" and request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.basic_auth == (ACCOUNT, GATEWAY_TOKEN)
    assert set(request.form) == {"To", "From", "Body"}
    assert request.form["To"] == [PHONE] and request.form["From"] == [FROM]
    assert re.fullmatch(r"[0-9]{6} is your .+", request.body)
    phone = phone_of(ada)
    assert phone.phone_e164 == PHONE and phone.verified_at is None and not has_mfa(ada)
    page = auth.client.get("/mfa/").get_data(as_text=True)
    assert "We texted a code to •••• 0123" in page and 'id="sms_code"' in page
    assert PHONE not in page  # only the masked number is shown


def test_the_texted_code_verifies_the_number_audits_and_mails(ada, auth, gateway, mailbox):
    start_enrolment(auth.client)

    response = confirm_enrolment(auth.client, gateway.last_code(PHONE))

    assert response.status_code == 303 and response.headers["Location"] == NEW_CODES_URL  # the first factor: codes
    assert phone_of(ada).verified_at is not None and has_mfa(ada)
    assert audit_types(ada)[-2:] == ["mfa.sms_sent", "mfa.enrolled"]
    enrolled_event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "mfa.enrolled")).one()
    assert enrolled_event.details == {"kind": "sms"}
    mailbox.wait_for("ada@example.com", "phone number for text-message codes was added")
    page = auth.client.get("/mfa/").get_data(as_text=True)
    assert "Your phone number is verified" in page and "Sign-in codes can be texted to •••• 0123" in page
    first_codes_then(auth.client, "/mfa/")  # then where it was going


@pytest.mark.parametrize("number", ["07700 900123", "+44 7700", "+44 7700 900123 ext 9", "", "+1234567890123456"])
def test_a_number_that_is_not_e164_is_a_form_error(ada, auth, gateway, number):
    response = start_enrolment(auth.client, number)

    assert response.status_code == 400
    assert "starting with + and the country code" in text(response)
    assert phone_of(ada) is None and gateway.requests == []


def test_a_wrong_enrolment_code_leaves_the_number_unverified(ada, auth, gateway):
    start_enrolment(auth.client)

    response = confirm_enrolment(auth.client, wrong(gateway.last_code(PHONE)))

    assert response.status_code == 400 and "That code didn't work" in text(response)
    assert phone_of(ada).verified_at is None and "mfa.enrolled" not in audit_types(ada)


def test_an_enrolment_code_dies_after_five_tries(ada, auth, gateway):
    start_enrolment(auth.client)
    code = gateway.last_code(PHONE)
    for _ in range(5):
        assert confirm_enrolment(auth.client, wrong(code)).status_code == 400

    response = confirm_enrolment(auth.client, code)

    assert response.status_code == 400 and phone_of(ada).verified_at is None


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", ""])
def test_a_malformed_enrolment_code_is_a_form_error_and_not_a_try(ada, auth, gateway, code):
    start_enrolment(auth.client)

    response = confirm_enrolment(auth.client, code)

    assert response.status_code == 400
    assert db.session.scalar(select(SmsCode.attempts)) == 0


def test_a_new_number_replaces_an_unverified_one_and_its_code(ada, auth, gateway):
    start_enrolment(auth.client)
    old_code = gateway.last_code(PHONE)
    start_enrolment(auth.client, "+1 415 555 2671")

    assert phone_of(ada).phone_e164 == "+14155552671"
    new_code = gateway.last_code("+14155552671")
    if old_code != new_code:
        assert confirm_enrolment(auth.client, old_code).status_code == 400
    assert confirm_enrolment(auth.client, new_code).status_code == 303
    assert phone_of(ada).phone_e164 == "+14155552671"


def test_a_new_code_can_be_sent_for_the_waiting_number(ada, auth, gateway):
    start_enrolment(auth.client)

    response = post_from(auth.client, "/mfa/", "/mfa/sms/resend")

    assert response.status_code == 303 and len(gateway.messages_to(PHONE)) == 2
    assert confirm_enrolment(auth.client, gateway.last_code(PHONE)).status_code == 303


def test_the_sixth_enrolment_text_in_an_hour_is_refused_and_changes_nothing(ada, auth, gateway):
    for _ in range(5):
        assert start_enrolment(auth.client).status_code == 303

    response = start_enrolment(auth.client, "+14155552671")

    assert response.status_code == 429 and "already sent you several texts" in text(response)
    assert phone_of(ada).phone_e164 == PHONE and gateway.messages_to("+14155552671") == []
    assert confirm_enrolment(auth.client, gateway.last_code(PHONE)).status_code == 303


def test_a_verified_number_must_be_removed_before_another_is_added(ada, auth, gateway):
    enrol(auth.client, gateway)

    response = start_enrolment(auth.client, "+14155552671")

    assert response.status_code == 400 and "Remove it first" in text(response)
    assert phone_of(ada).phone_e164 == PHONE and phone_of(ada).verified_at is not None
    assert gateway.messages_to("+14155552671") == []


def test_confirming_without_a_waiting_number_is_refused(ada, auth):
    response = confirm_enrolment(auth.client, "123456")

    assert response.status_code == 400 and "no phone number waiting" in text(response)


def test_enrolment_needs_a_session(test_client, gateway):
    token = csrf_from(test_client.get("/login").get_data(as_text=True))

    for path in ("/mfa/sms/setup", "/mfa/sms/resend", "/mfa/sms/confirm"):
        response = test_client.post(path, data={"csrf_token": token, "sms_phone": PHONE, "sms_code": "123456"})
        assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert gateway.requests == [] and db.session.scalar(select(PhoneFactor.id)) is None


def test_an_admin_cannot_make_sms_their_only_factor(create_user, auth, gateway):
    admin = create_user(email="root@example.com", is_admin=True)
    auth.login("root@example.com")
    page = auth.client.get("/mfa/").get_data(as_text=True)
    assert 'id="sms-restricted"' in page and 'id="sms_phone"' not in page

    response = start_enrolment(auth.client)

    assert response.status_code == 400
    assert "needs an authenticator app or a security key" in text(response)
    assert phone_of(admin) is None and gateway.requests == []
    assert live_session(admin).pending == "enrol"


def test_an_admin_with_an_authenticator_app_may_add_a_phone_too(app, create_user, with_totp, auth, gateway):
    admin = create_user(email="root@example.com", is_admin=True)
    totp = with_totp(admin)
    auth.login("root@example.com")
    post_from(auth.client, "/mfa/challenge", "/mfa/challenge/totp", totp_code=totp.now())

    enrol(auth.client, gateway)

    assert phone_of(admin).verified_at is not None


def test_someone_who_must_enrol_is_signed_in_by_the_first_code(app, create_user, auth, gateway, mailbox):
    app.config["REQUIRE_MFA"] = True
    user = create_user(email="ada@example.com")
    assert auth.login("ada@example.com").headers["Location"].endswith("/mfa/")
    assert live_session(user).pending == "enrol"

    start_enrolment(auth.client)
    response = confirm_enrolment(auth.client, gateway.last_code(PHONE))

    assert response.status_code == 303 and response.headers["Location"] == NEW_CODES_URL  # the first factor: codes
    user_session = live_session(user)
    assert user_session.pending is None and {"sms", "mfa"} <= set(user_session.amr)
    assert auth.client.get("/account/").status_code == 200
    mailbox.wait_for("ada@example.com", "phone number for text-message codes was added")
    first_codes_then(auth.client, "/account/")  # then where it was going


# Signing in with a texted code


def test_the_challenge_offers_to_text_the_masked_number(enrolled, auth, gateway):
    page = auth.client.get("/mfa/challenge").get_data(as_text=True)

    assert "Text a code to <strong>•••• 0123</strong>" in page and PHONE not in page
    assert 'action="/mfa/challenge/sms/send"' in page
    assert 'id="sms_code"' not in page  # nothing to enter until a code was sent
    assert gateway.requests == []  # showing the page texts nobody


def test_a_texted_code_signs_in_with_sms_in_the_amr(enrolled, auth, gateway):
    response = send_code(auth.client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/mfa/challenge")
    page = auth.client.get("/mfa/challenge").get_data(as_text=True)
    assert "We texted a code to •••• 0123" in page and 'id="sms_code"' in page
    code = gateway.last_code(PHONE)

    wrong_answer = answer(auth.client, wrong(code))
    assert wrong_answer.status_code == 401 and "That code didn't work" in text(wrong_answer)
    assert auth.client.get("/account/").status_code == 302  # still pending

    right = answer(auth.client, code)

    assert right.status_code == 303 and right.headers["Location"].endswith("/account/")
    user_session = live_session(enrolled)
    assert user_session.pending is None and user_session.amr == ["pwd", "sms", "mfa"]
    assert auth.client.get("/account/").status_code == 200
    types = audit_types(enrolled)
    assert types[-3:] == ["mfa.sms_sent", "auth.login_failed", "auth.login"]
    sent = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "mfa.sms_sent")).all()[-1]
    assert sent.details == {"purpose": "signin", "phone": "•••• 0123"} and code not in json.dumps(sent.details)
    assert phone_of(enrolled).last_used_at is not None


def test_a_used_code_cannot_sign_in_again(enrolled, auth, gateway):
    send_code(auth.client)
    code = gateway.last_code(PHONE)
    assert answer(auth.client, code).status_code == 303
    auth.logout()
    auth.login("ada@example.com")

    response = answer(auth.client, code)

    assert response.status_code == 401 and live_session(enrolled).pending == "mfa"


def test_the_enrolment_code_is_no_sign_in_code(ada, auth, gateway):
    start_enrolment(auth.client)
    code = gateway.last_code(PHONE)
    confirm_enrolment(auth.client, code)
    auth.logout()
    auth.login("ada@example.com")

    assert answer(auth.client, code).status_code == 401


def test_an_expired_code_is_refused(enrolled, auth, gateway):
    send_code(auth.client)
    db.session.execute(update(SmsCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    response = answer(auth.client, gateway.last_code(PHONE))

    assert response.status_code == 401 and live_session(enrolled).pending == "mfa"


def test_the_sixth_try_of_a_code_is_refused_even_when_right(app, enrolled, auth, gateway):
    app.config["LOCKOUT_THRESHOLD"] = 100  # so that the code's own limit is what refuses
    send_code(auth.client)
    code = gateway.last_code(PHONE)
    for _ in range(5):
        assert answer(auth.client, wrong(code)).status_code == 401

    response = answer(auth.client, code)

    assert response.status_code == 401 and live_session(enrolled).pending == "mfa"
    assert audit_types(enrolled).count("auth.login_failed") == 6


def test_a_code_for_one_person_does_not_sign_in_another(app, create_user, enrolled, auth, gateway):
    from tests.conftest import AuthActions

    bob = create_user(email="bob@example.com")
    db.session.add(PhoneFactor(user_id=bob.id, phone_e164="+14155552671", verified_at=utcnow()))
    db.session.commit()
    send_code(auth.client)  # Ada's code
    ada_code = gateway.last_code(PHONE)
    bob_client = AuthActions(app.test_client())
    bob_client.login("bob@example.com")
    send_code(bob_client.client)

    response = answer(bob_client.client, ada_code if ada_code != gateway.last_code("+14155552671") else wrong(ada_code))

    assert response.status_code == 401 and live_session(bob).pending == "mfa"


def test_the_sixth_text_in_an_hour_is_refused_with_429(enrolled, auth, gateway):
    # Enrolment sent one text already this hour.
    for _ in range(4):
        assert send_code(auth.client).status_code == 303

    response = send_code(auth.client)

    assert response.status_code == 429
    assert "already sent you several texts" in text(response)
    assert len(gateway.messages_to(PHONE)) == 4
    assert audit_types(enrolled).count("mfa.sms_sent") == 5


def test_a_failing_gateway_gives_a_friendly_error_not_a_500(enrolled, auth, gateway, capture_app_log):
    log = capture_app_log()
    gateway.fail_with = 500

    response = send_code(auth.client)

    assert response.status_code == 503
    assert "couldn't send the text message" in text(response)
    assert "mfa.sms_sent" not in audit_types(enrolled)[-3:]
    assert "SMS gateway answered 500" in log.getvalue() and GATEWAY_TOKEN not in log.getvalue()
    # The gateway recovers, and a new code works.
    gateway.fail_with = None
    assert send_code(auth.client).status_code == 303
    assert answer(auth.client, gateway.last_code(PHONE)).status_code == 303


def test_failed_sends_count_toward_the_hourly_limit(enrolled, auth, gateway):
    """A gateway that timed out may still deliver; a failing one must not allow unlimited texts."""
    gateway.fail_with = 500
    for _ in range(4):
        assert send_code(auth.client).status_code == 503
    gateway.fail_with = None

    response = send_code(auth.client)

    assert response.status_code == 429 and len(gateway.messages_to(PHONE)) == 4


def test_a_failing_gateway_at_enrolment_is_a_friendly_error(ada, auth, gateway):
    gateway.fail_with = 503

    response = start_enrolment(auth.client)

    assert response.status_code == 503 and "couldn't send the text message" in text(response)
    assert phone_of(ada).verified_at is None


def test_an_unreachable_gateway_is_a_friendly_error(app, enrolled, auth, gateway):
    app.config["SMS_HTTP_URL"] = "http://127.0.0.1:9/send"  # discard port: nothing listens

    response = send_code(auth.client)

    assert response.status_code == 503 and "couldn't send the text message" in text(response)


@pytest.mark.parametrize("path", ["/mfa/challenge/sms/send", "/mfa/challenge/sms"])
def test_a_challenge_post_without_the_csrf_token_is_refused(enrolled, auth, gateway, path):
    response = auth.client.post(path, data={"sms_code": "123456"})

    assert response.status_code == 400
    assert gateway.requests == [] and live_session(enrolled).pending == "mfa"


@pytest.mark.parametrize("path", ["/mfa/sms/setup", "/mfa/sms/resend", "/mfa/sms/confirm", "/mfa/sms/remove"])
def test_an_enrolment_post_without_the_csrf_token_is_refused(ada, auth, gateway, path):
    start_enrolment(auth.client)
    code = gateway.last_code(PHONE)

    response = auth.client.post(path, data={"sms_phone": "+14155552671", "sms_code": code})

    assert response.status_code == 400
    assert phone_of(ada).phone_e164 == PHONE and phone_of(ada).verified_at is None
    assert len(gateway.requests) == 1


def test_a_pending_session_cannot_reach_the_account_even_after_a_text(enrolled, auth, gateway):
    send_code(auth.client)

    for path in ("/account/", "/mfa/"):
        response = auth.client.get(path)
        assert response.status_code == 302
        assert "/mfa/challenge" in response.headers["Location"] or "/login" in response.headers["Location"]


def test_without_a_session_nothing_is_texted_or_checked(test_client, gateway):
    token = csrf_from(test_client.get("/login").get_data(as_text=True))

    for path in ("/mfa/challenge/sms/send", "/mfa/challenge/sms"):
        response = test_client.post(path, data={"csrf_token": token, "sms_code": "123456"})
        assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert gateway.requests == []


def test_a_locked_account_gets_no_text_and_no_code_checked(enrolled, auth, gateway):
    enrolled.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()

    assert send_code(auth.client).status_code == 429
    assert answer(auth.client, "123456").status_code == 429
    assert gateway.requests == []


def test_an_unverified_number_is_not_offered_at_sign_in(ada, auth, gateway):
    start_enrolment(auth.client)
    auth.logout()

    assert auth.login("ada@example.com").headers["Location"].endswith("/account/")  # no factor yet
    assert post_from(auth.client, "/account/", "/mfa/challenge/sms/send").headers["Location"].endswith("/login")


def test_a_signed_in_person_steps_up_with_a_texted_code(app, enrolled, auth, gateway):
    send_code(auth.client)
    answer(auth.client, gateway.last_code(PHONE))
    user_session = live_session(enrolled)
    user_session.auth_time = utcnow() - timedelta(hours=1)
    db.session.commit()

    send_code(auth.client)
    response = answer(auth.client, gateway.last_code(PHONE))

    assert response.status_code == 303 and audit_types(enrolled)[-1] == "auth.step_up"


# Removal


def test_removing_the_number_after_a_fresh_code_audits_and_mails(enrolled, auth, gateway, mailbox):
    send_code(auth.client)
    answer(auth.client, gateway.last_code(PHONE))

    response = post_from(auth.client, "/mfa/", "/mfa/sms/remove")

    assert response.status_code == 303 and response.headers["Location"].endswith("/mfa/")
    assert phone_of(enrolled) is None and not has_mfa(enrolled)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "mfa.removed")).one()
    assert event.details == {"kind": "sms"}
    mailbox.wait_for("ada@example.com", "phone number for text-message codes was removed")
    assert "Your phone number was removed." in text(auth.client.get("/mfa/"))


def test_removal_without_fresh_authentication_asks_for_a_code_first(enrolled, auth, gateway, mailbox):
    send_code(auth.client)
    answer(auth.client, gateway.last_code(PHONE))
    user_session = live_session(enrolled)
    user_session.auth_time = utcnow() - timedelta(hours=1)
    db.session.commit()

    response = post_from(auth.client, "/mfa/", "/mfa/sms/remove")

    assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/challenge")
    assert phone_of(enrolled) is not None and "mfa.removed" not in audit_types(enrolled)
    assert not any("removed" in mail.subject for mail in mailbox.to("ada@example.com"))


def test_removal_is_a_post_and_needs_a_signed_in_session(enrolled, auth):
    assert auth.client.get("/mfa/sms/remove").status_code == 405

    response = post_from(auth.client, "/mfa/challenge", "/mfa/sms/remove")

    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert phone_of(enrolled) is not None


def test_removing_when_there_is_nothing_to_remove_changes_nothing(ada, auth):
    response = post_from(auth.client, "/mfa/", "/mfa/sms/remove")

    assert response.status_code == 303
    assert "mfa.removed" not in audit_types(ada)


def test_someone_who_must_have_mfa_cannot_remove_their_only_factor(enrolled, auth, gateway, app):
    app.config["REQUIRE_MFA"] = True
    send_code(auth.client)
    answer(auth.client, gateway.last_code(PHONE))

    response = post_from(auth.client, "/mfa/", "/mfa/sms/remove")

    assert response.status_code == 400 and "must keep a second factor" in text(response)
    assert phone_of(enrolled) is not None and "mfa.removed" not in audit_types(enrolled)
