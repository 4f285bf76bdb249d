"""Authenticator apps through the pages: enrol with a QR code, confirm, sign in with a code, remove."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from app.core.factors import has_mfa
from app.extensions import db
from app.mfa.totp import QR_TITLE
from app.models import AuditEvent, TotpFactor, UserSession
from app.models.base import utcnow
from tests.conftest import audit_types, csrf_from
from tests.integration.mfa.conftest import NEW_CODES_URL, first_codes_then

SECRET_PATTERN = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')


def secret_from(html: str) -> str:
    match = SECRET_PATTERN.search(html)
    assert match, "the page shows no secret"
    return match.group(1).replace(" ", "")


def wrong_code(totp: pyotp.TOTP) -> str:
    """A 6-digit code that is valid at no step of the drift window."""
    now = time.time()
    valid = {totp.at(now + drift * 30) for drift in (-2, -1, 0, 1, 2)}
    return next(code for code in (f"{n}" * 6 for n in range(10)) if code not in valid)


def next_code(totp: pyotp.TOTP) -> str:
    """The next step's code: accepted (drift +1) even when the current step's code was just used."""
    return totp.at(time.time() + 30)


def factor_of(user) -> TotpFactor | None:
    db.session.expire_all()
    return db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id))


def live_session(user) -> UserSession:
    db.session.expire_all()
    query = select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    return db.session.scalar(query.order_by(UserSession.created_at.desc()))


def start_setup(client) -> str:
    token = csrf_from(client.get("/mfa/").get_data(as_text=True))
    page = client.post("/mfa/totp/setup", data={"csrf_token": token})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def confirm(client, html: str, code: str):
    return client.post("/mfa/totp/confirm", data={"csrf_token": csrf_from(html), "totp_code": code})


def enrol(client) -> pyotp.TOTP:
    html = start_setup(client)
    totp = pyotp.TOTP(secret_from(html))
    assert confirm(client, html, totp.now()).status_code == 303
    return totp


def answer_challenge(client, code: str):
    html = client.get("/mfa/challenge").get_data(as_text=True)
    return client.post("/mfa/challenge/totp", data={"csrf_token": csrf_from(html), "totp_code": code})


@pytest.fixture
def ada(create_user, auth):
    user = create_user(email="ada@example.com")
    auth.login("ada@example.com")
    return user


# Enrolment


def test_the_security_page_offers_to_set_up_an_authenticator_app(ada, auth):
    page = auth.client.get("/mfa/").get_data(as_text=True)

    assert "Set up an authenticator app" in page
    assert 'id="totp-secret"' not in page


def test_setting_up_shows_a_qr_code_and_the_secret_but_enrols_nothing_yet(ada, auth):
    html = start_setup(auth.client)

    assert re.search(r'<div class="totp-qr" id="totp-qr"><svg [^>]*class="totp-qr"', html)
    assert "<path" in html and "<img" not in html and "http" not in html.split('id="totp-qr"')[1].split("</svg>")[0]
    secret = secret_from(html)
    assert len(secret) == 32  # 160 bits in base32
    assert re.search(r'id="totp-secret">([A-Z2-7]{4} ){7}[A-Z2-7]{4}<', html)
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    factor = factor_of(ada)
    assert factor.confirmed_at is None and secret not in factor.secret_encrypted
    assert not has_mfa(ada)
    assert "mfa.enrolled" not in audit_types(ada)


def test_the_qr_code_holds_the_provisioning_uri_for_this_service_and_account(ada, auth, app):
    import segno

    html = start_setup(auth.client)
    secret = secret_from(html)

    uri = pyotp.TOTP(secret).provisioning_uri(name="ada@example.com", issuer_name=app.config["SERVICE_NAME"])
    expected = segno.make(uri, error="m").svg_inline(scale=4, light="#fff", svgclass="totp-qr", title=QR_TITLE)
    assert expected in html


def test_a_wrong_first_code_leaves_the_app_unconfirmed_with_an_error(ada, auth, mailbox):
    html = start_setup(auth.client)
    totp = pyotp.TOTP(secret_from(html))

    response = confirm(auth.client, html, wrong_code(totp))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="totp-error"' in page and "didn&#39;t work" in page
    assert factor_of(ada).confirmed_at is None and not has_mfa(ada)
    assert "mfa.enrolled" not in audit_types(ada) and mailbox.to("ada@example.com") == []
    # The same setup still works with a right code.
    assert confirm(auth.client, page, totp.now()).status_code == 303
    assert factor_of(ada).confirmed_at is not None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123-456"])
def test_a_malformed_code_is_a_form_error(ada, auth, code):
    html = start_setup(auth.client)

    response = confirm(auth.client, html, code)

    assert response.status_code == 400
    assert 'id="totp_code-errors"' in response.get_data(as_text=True)
    assert factor_of(ada).confirmed_at is None


def test_the_right_code_turns_the_app_on_audits_and_mails(ada, auth, mailbox):
    html = start_setup(auth.client)
    totp = pyotp.TOTP(secret_from(html))
    code = totp.now()

    response = confirm(auth.client, html, f" {code[:3]} {code[3:]} ")

    assert response.status_code == 303 and response.headers["Location"] == NEW_CODES_URL  # the first factor: codes
    factor = factor_of(ada)
    assert factor.confirmed_at is not None and factor.last_used_step is not None
    assert has_mfa(ada)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "mfa.enrolled"))
    assert event.subject_user_id == ada.id and event.details == {"kind": "totp"}
    mail = mailbox.wait_for("ada@example.com", "authenticator app was added")
    assert secret_from(html) not in mail.text
    page = auth.client.get("/mfa/").get_data(as_text=True)
    assert "Your authenticator app is set up" in page and "Remove authenticator app" in page
    first_codes_then(auth.client, "/mfa/")  # then where it was going


def test_starting_again_replaces_the_unconfirmed_secret(ada, auth):
    first = secret_from(start_setup(auth.client))
    html = start_setup(auth.client)
    second = secret_from(html)

    assert first != second
    assert len(list(db.session.scalars(select(TotpFactor).where(TotpFactor.user_id == ada.id)))) == 1
    assert confirm(auth.client, html, pyotp.TOTP(first).now()).status_code == 400
    assert confirm(auth.client, html, pyotp.TOTP(second).now()).status_code == 303


def test_a_second_app_cannot_be_set_up_over_a_confirmed_one(ada, auth):
    enrol(auth.client)
    before = factor_of(ada).secret_encrypted
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))

    response = auth.client.post("/mfa/totp/setup", data={"csrf_token": token})

    assert response.status_code == 400
    assert "Remove it first" in response.get_data(as_text=True)
    assert factor_of(ada).secret_encrypted == before and factor_of(ada).confirmed_at is not None


def test_confirming_without_a_setup_in_progress_is_refused(ada, auth):
    html = auth.client.get("/mfa/").get_data(as_text=True)

    response = confirm(auth.client, html, "123456")

    assert response.status_code == 400
    assert "no authenticator app setup in progress" in response.get_data(as_text=True)
    assert factor_of(ada) is None


def test_enrolment_needs_a_session(test_client):
    token = csrf_from(test_client.get("/login").get_data(as_text=True))

    for path in ("/mfa/totp/setup", "/mfa/totp/confirm"):
        response = test_client.post(path, data={"csrf_token": token, "totp_code": "123456"})
        assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert db.session.scalar(select(TotpFactor.id)) is None


@pytest.mark.parametrize("path", ["/mfa/totp/setup", "/mfa/totp/confirm", "/mfa/totp/remove", "/mfa/challenge/totp"])
def test_a_post_without_the_csrf_token_is_refused(ada, auth, path):
    html = start_setup(auth.client)
    code = pyotp.TOTP(secret_from(html)).now()

    response = auth.client.post(path, data={"totp_code": code})

    assert response.status_code == 400
    assert factor_of(ada).confirmed_at is None


def test_an_admin_who_must_enrol_is_signed_in_by_the_first_code(create_user, auth, mailbox):
    admin = create_user(email="root@example.com", is_admin=True)
    auth.login("root@example.com")
    assert live_session(admin).pending == "enrol"

    html = start_setup(auth.client)
    response = confirm(auth.client, html, pyotp.TOTP(secret_from(html)).now())

    assert response.status_code == 303 and response.headers["Location"] == NEW_CODES_URL  # the first factor: codes
    user_session = live_session(admin)
    assert user_session.pending is None and {"otp", "mfa"} <= set(user_session.amr)
    assert auth.client.get("/account/").status_code == 200
    assert "mfa.enrolled" in audit_types(admin) and "auth.login" in audit_types(admin)
    mailbox.wait_for("root@example.com", "authenticator app was added")
    first_codes_then(auth.client, "/account/")  # then where it was going


# Signing in with a code


@pytest.fixture
def enrolled(ada, auth):
    """Ada enrolled through the pages, then signed out and in again with her password: the challenge waits."""
    totp = enrol(auth.client)
    auth.logout()
    response = auth.login("ada@example.com")
    assert response.headers["Location"].endswith("/mfa/challenge")
    return totp


def test_the_challenge_offers_a_one_time_code_field(enrolled, auth):
    page = auth.client.get("/mfa/challenge").get_data(as_text=True)

    assert 'action="/mfa/challenge/totp"' in page
    assert re.search(r'<input id="totp_code" name="totp_code"[^>]*inputmode="numeric" autocomplete="one-time-code"', page)


def test_a_pending_session_cannot_reach_the_account(enrolled, auth):
    response = auth.client.get("/account/")

    assert response.status_code == 302 and "/account/" not in response.headers["Location"]


def test_a_wrong_code_is_401_and_counted(ada, enrolled, auth):
    response = answer_challenge(auth.client, wrong_code(enrolled))

    assert response.status_code == 401
    assert 'id="mfa-error"' in response.get_data(as_text=True)
    failure = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "auth.login_failed")).all()[-1]
    assert failure.details == {"reason": "mfa", "factor": "totp"}
    db.session.refresh(ada)
    assert ada.failed_login_count == 1
    assert live_session(ada).pending == "mfa"


def test_the_enrolment_code_cannot_be_replayed_at_sign_in(ada, auth):
    html = start_setup(auth.client)
    code = pyotp.TOTP(secret_from(html)).now()
    confirm(auth.client, html, code)
    auth.logout()
    auth.login("ada@example.com")

    response = answer_challenge(auth.client, code)

    assert response.status_code == 401
    assert live_session(ada).pending == "mfa"


def test_a_code_used_to_sign_in_cannot_be_used_again(ada, enrolled, auth):
    code = next_code(enrolled)
    assert answer_challenge(auth.client, code).status_code == 303
    auth.logout()
    auth.login("ada@example.com")

    response = answer_challenge(auth.client, code)

    assert response.status_code == 401
    assert live_session(ada).pending == "mfa"


def test_the_right_code_signs_in_with_otp_in_the_amr(ada, enrolled, auth):
    response = answer_challenge(auth.client, next_code(enrolled))

    assert response.status_code == 303 and response.headers["Location"].endswith("/account/")
    user_session = live_session(ada)
    assert user_session.pending is None
    assert "otp" in user_session.amr and "mfa" in user_session.amr and "pwd" in user_session.amr
    assert auth.client.get("/account/").status_code == 200
    assert audit_types(ada)[-1] == "auth.login"


@pytest.mark.parametrize("code", ["", "12345", "abcdef"])
def test_a_malformed_code_at_the_challenge_is_400_and_not_counted(ada, enrolled, auth, code):
    response = answer_challenge(auth.client, code)

    assert response.status_code == 400
    db.session.refresh(ada)
    assert ada.failed_login_count == 0


def test_a_locked_account_gets_no_code_checked(ada, enrolled, auth):
    ada.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    step_before = factor_of(ada).last_used_step

    response = answer_challenge(auth.client, next_code(enrolled))

    assert response.status_code == 429
    assert "Too many wrong codes" in response.get_data(as_text=True)
    assert factor_of(ada).last_used_step == step_before
    assert live_session(ada).pending == "mfa"


def test_the_challenge_post_needs_a_session(ada, enrolled, app):
    stranger = app.test_client()
    token = csrf_from(stranger.get("/login").get_data(as_text=True))

    response = stranger.post("/mfa/challenge/totp", data={"csrf_token": token, "totp_code": next_code(enrolled)})

    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert audit_types(ada).count("auth.login") == 1  # only the enrolment session's first sign-in


def test_an_unconfirmed_app_is_not_offered_or_accepted(ada, auth):
    html = start_setup(auth.client)
    totp = pyotp.TOTP(secret_from(html))
    auth.logout()

    response = auth.login("ada@example.com")

    assert response.headers["Location"].endswith("/account/")  # no factor yet: the password signs in
    answer = {"csrf_token": auth.csrf("/account/"), "totp_code": totp.now()}
    assert auth.client.post("/mfa/challenge/totp", data=answer).status_code == 303
    assert "otp" not in live_session(ada).amr


# Removal


def test_removing_the_app_after_a_fresh_code_audits_and_mails(ada, enrolled, auth, mailbox):
    answer_challenge(auth.client, next_code(enrolled))
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))

    response = auth.client.post("/mfa/totp/remove", data={"csrf_token": token})

    assert response.status_code == 303 and response.headers["Location"].endswith("/mfa/")
    assert factor_of(ada) is None and not has_mfa(ada)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "mfa.removed")).one()
    assert event.details == {"kind": "totp"}
    mailbox.wait_for("ada@example.com", "authenticator app was removed")
    assert "Your authenticator app was removed." in auth.client.get("/mfa/").get_data(as_text=True)
    auth.logout()
    assert auth.login("ada@example.com").headers["Location"].endswith("/account/")


def test_removal_without_fresh_authentication_asks_for_a_code_first(create_user, with_totp, auth, app, mailbox):
    user = create_user(email="bob@example.com")
    totp = with_totp(user)
    auth.login("bob@example.com")
    answer_challenge(auth.client, totp.now())
    user_session = live_session(user)
    user_session.auth_time = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 1)
    db.session.commit()
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))

    response = auth.client.post("/mfa/totp/remove", data={"csrf_token": token})

    assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/challenge")
    assert factor_of(user) is not None and "mfa.removed" not in audit_types(user)
    assert not any("removed" in mail.subject for mail in mailbox.to("bob@example.com"))
    # Stepping up with a newer code leads back to the security page, where removal now works.
    stepped = answer_challenge(auth.client, next_code(totp))
    assert stepped.status_code == 303 and stepped.headers["Location"].endswith("/mfa/")
    assert audit_types(user)[-1] == "auth.step_up"
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))
    assert auth.client.post("/mfa/totp/remove", data={"csrf_token": token}).status_code == 303
    assert factor_of(user) is None


def test_removal_needs_a_signed_in_session(enrolled, auth, ada):
    token = csrf_from(auth.client.get("/mfa/challenge").get_data(as_text=True))

    response = auth.client.post("/mfa/totp/remove", data={"csrf_token": token})

    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert factor_of(ada) is not None


def test_removing_when_there_is_nothing_to_remove_changes_nothing(ada, auth):
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))

    response = auth.client.post("/mfa/totp/remove", data={"csrf_token": token})

    assert response.status_code == 303
    assert "mfa.removed" not in audit_types(ada)


def test_an_admin_cannot_remove_their_only_factor(create_user, with_totp, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    totp = with_totp(admin)
    auth.login("root@example.com")
    answer_challenge(auth.client, totp.now())
    token = csrf_from(auth.client.get("/mfa/").get_data(as_text=True))

    response = auth.client.post("/mfa/totp/remove", data={"csrf_token": token})

    assert response.status_code == 400
    assert b"must keep a second factor" in response.data
    assert factor_of(admin) is not None and "mfa.removed" not in audit_types(admin)
