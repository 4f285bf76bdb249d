"""The "text me a new code" button during enrolment: its failures are answered like the challenge's,
and a failed resend counts toward the hourly limit like any other send."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import SmsCode
from tests.conftest import audit_types
from tests.integration.mfa.test_sms import (  # noqa: F401
    PHONE,
    ada,
    app,
    gateway,
    phone_of,
    post_from,
    start_enrolment,
    text,
)


def resend(client):
    return post_from(client, "/mfa/", "/mfa/sms/resend")


def test_a_failed_resend_is_a_friendly_error_and_the_number_keeps_waiting(ada, auth, gateway):
    start_enrolment(auth.client)
    gateway.fail_with = 500

    response = resend(auth.client)

    assert response.status_code == 503 and "couldn't send the text message" in text(response)
    assert phone_of(ada).verified_at is None
    assert db.session.scalar(select(func.count()).select_from(SmsCode).where(SmsCode.user_id == ada.id)) == 2  # kept
    assert audit_types(ada).count("mfa.sms_sent") == 1


def test_failed_resends_count_toward_the_hourly_limit(ada, auth, gateway):
    start_enrolment(auth.client)
    gateway.fail_with = 500
    for _ in range(4):
        assert resend(auth.client).status_code == 503
    gateway.fail_with = None

    response = resend(auth.client)

    assert response.status_code == 429 and "already sent you several texts" in text(response)
    assert len(gateway.messages_to(PHONE)) == 5  # the first text and four failed tries; the sixth never left


def test_a_resend_without_a_waiting_number_is_refused(ada, auth, gateway):
    response = resend(auth.client)

    assert response.status_code == 400 and "no phone number waiting for a code" in text(response)
    assert gateway.requests == []
