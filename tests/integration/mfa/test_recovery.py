"""Recovery codes through the pages: create a set (shown once), sign in with a code, regenerate."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select, update

from app.core.audit import Origin
from app.extensions import db
from app.mfa import recovery
from app.mfa.recovery_views import NEEDS_FACTOR, WRONG_CODE
from app.mfa.views import LOCKED
from app.models import AuditEvent, RecoveryCode, User, UserSession
from app.models.base import utcnow
from app.security import token_digest
from tests.conftest import audit_types, csrf_from
from tests.integration.mfa.conftest import NEW_CODES_URL, first_codes_then

EMAIL = "ada@example.com"
SHOWN = re.compile(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>")
ORIGIN = Origin(ip_address="192.0.2.1", user_agent="pytest")


@pytest.fixture
def ada(create_user, with_totp) -> User:
    user = create_user(email=EMAIL)
    with_totp(user)
    return user


def seed_codes(user: User) -> list[str]:
    """A set made by the service directly, as if created earlier."""
    codes = recovery.generate_recovery_codes(user, origin=ORIGIN)
    db.session.commit()
    return codes


def shows(response, text: str) -> bool:
    return str(escape(text)) in response.get_data(as_text=True)


def codes_on(html: str) -> list[str]:
    return SHOWN.findall(html)


def use_code(client, code: str | None, *, token: str | None = None):
    token = token or csrf_from(client.get("/mfa/challenge").get_data(as_text=True))
    data = {"csrf_token": token} | ({"recovery_code": code} if code is not None else {})
    return client.post("/mfa/challenge/recovery", data=data)


def sign_in_with_code(auth, code: str):
    auth.login(EMAIL)
    return use_code(auth.client, code)


def live_session(user: User) -> UserSession:
    db.session.expire_all()
    query = select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    return db.session.scalar(query.order_by(UserSession.created_at.desc()))


def unused(user: User) -> int:
    db.session.expire_all()
    return recovery.remaining_recovery_codes(user)


def generate(client):
    token = csrf_from(client.get("/mfa/").get_data(as_text=True))
    return client.post("/mfa/recovery/generate", data={"csrf_token": token})


# --- the challenge ---


def test_the_challenge_offers_a_recovery_code_only_while_unused_codes_remain(ada, auth):
    auth.login(EMAIL)
    assert b'id="recovery-challenge"' not in auth.client.get("/mfa/challenge").data

    seed_codes(ada)

    page = auth.client.get("/mfa/challenge")
    assert b'id="recovery-challenge"' in page.data and b"Use a recovery code" in page.data


def test_password_then_a_recovery_code_signs_in_with_otp_and_mfa(ada, auth, mailbox):
    codes = seed_codes(ada)
    mailbox.clear()
    auth.login(EMAIL)

    wrong = use_code(auth.client, "abcd-efgh-jkmn-pqrs")
    assert wrong.status_code == 401 and shows(wrong, WRONG_CODE)
    assert live_session(ada).pending == "mfa"
    db.session.refresh(ada)
    assert ada.failed_login_count == 1

    right = use_code(auth.client, codes[0].upper().replace("-", " "))

    assert right.status_code == 303 and right.headers["Location"].endswith("/account/")
    session = live_session(ada)
    assert session.pending is None and "otp" in session.amr and "mfa" in session.amr
    assert auth.client.get("/account/").status_code == 200
    assert unused(ada) == 9
    types = audit_types(ada)
    assert types.index("auth.login_failed") < types.index("mfa.recovery_code_used") < types.index("auth.login")
    used = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "mfa.recovery_code_used"))
    assert used.details == {"remaining": 9}
    assert mailbox.to(EMAIL) == []  # using a code is audited, not mailed


def test_a_used_code_is_refused_the_second_time(ada, auth):
    codes = seed_codes(ada)
    assert sign_in_with_code(auth, codes[0]).status_code == 303
    auth.logout()

    again = sign_in_with_code(auth, codes[0])

    assert again.status_code == 401 and shows(again, WRONG_CODE)
    assert live_session(ada).pending == "mfa"
    assert unused(ada) == 9


def test_another_persons_code_does_not_sign_in(ada, create_user, with_totp, auth):
    bob = create_user(email="bob@example.com")
    with_totp(bob)
    seed_codes(ada)
    bobs = seed_codes(bob)

    assert sign_in_with_code(auth, bobs[0]).status_code == 401
    assert unused(bob) == 10


def test_an_empty_code_is_bad_input_and_not_counted(ada, auth):
    seed_codes(ada)
    auth.login(EMAIL)

    for code in (None, "", "x" * 65):
        response = use_code(auth.client, code)
        assert response.status_code == 400

    db.session.refresh(ada)
    assert ada.failed_login_count == 0 and live_session(ada).pending == "mfa"


def test_a_locked_account_is_not_checked_and_spends_no_code(ada, auth):
    codes = seed_codes(ada)
    auth.login(EMAIL)
    db.session.execute(update(User).where(User.id == ada.id).values(locked_until=utcnow() + timedelta(minutes=5)))
    db.session.commit()

    response = use_code(auth.client, codes[0])

    assert response.status_code == 429 and shows(response, LOCKED)
    assert unused(ada) == 10 and live_session(ada).pending == "mfa"


def test_without_a_pending_challenge_the_form_sends_to_sign_in(ada, test_client):
    codes = seed_codes(ada)
    token = csrf_from(test_client.get("/login").get_data(as_text=True))

    response = use_code(test_client, codes[0], token=token)

    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert unused(ada) == 10


def test_the_challenge_form_needs_its_csrf_token(ada, auth):
    codes = seed_codes(ada)
    auth.login(EMAIL)

    response = auth.client.post("/mfa/challenge/recovery", data={"recovery_code": codes[0]})

    assert response.status_code == 400
    assert unused(ada) == 10 and live_session(ada).pending == "mfa"


def test_signing_in_with_one_of_the_last_codes_warns(ada, auth):
    codes = seed_codes(ada)
    spent = [recovery.normalize_code(code) for code in codes[:7]]
    for code in spent:
        recovery.use_recovery_code(ada, code, origin=ORIGIN)
    db.session.commit()

    response = sign_in_with_code(auth, codes[7])

    assert response.status_code == 303
    page = auth.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You have 2 recovery codes left" in page
    security = auth.client.get("/mfa/").get_data(as_text=True)
    assert "Only 2 unused recovery codes left" in security


def test_with_plenty_left_there_is_no_warning(ada, auth):
    codes = seed_codes(ada)

    response = sign_in_with_code(auth, codes[0])

    page = auth.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You have" not in page and "codes left" not in page
    assert "9 unused recovery codes left." in auth.client.get("/mfa/").get_data(as_text=True)


# --- creating a set ---


def test_codes_are_shown_once_mailed_about_and_kept_only_as_digests(app, ada, auth, mailbox):
    old = seed_codes(ada)
    sign_in_with_code(auth, old[0])
    mailbox.clear()

    response = generate(auth.client)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    codes = codes_on(html)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'download="' in html and "Download as text file" in html
    for code in codes:
        assert code in html.split('id="recovery-codes-download"', 1)[1]  # in the file's data: URL too
    stored = {row.code_digest for row in db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == ada.id))}
    assert stored == {token_digest(recovery.normalize_code(code)) for code in codes}
    # Not in the Flask session cookie either: only the response carries them.
    cookie = auth.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is not None:
        session_data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
        assert not any(code in str(session_data) for code in codes)
    assert audit_types(ada)[-1] == "mfa.recovery_codes_generated"
    assert "recovery codes was created" in mailbox.wait_for(EMAIL, "recovery codes").subject

    reloaded = auth.client.get("/mfa/").get_data(as_text=True)
    assert codes_on(reloaded) == [] and not any(code in reloaded for code in codes)
    assert "10 unused recovery codes left." in reloaded


def test_regenerating_invalidates_the_old_codes(ada, auth):
    old = seed_codes(ada)
    sign_in_with_code(auth, old[0])

    new = codes_on(generate(auth.client).get_data(as_text=True))
    auth.logout()

    assert sign_in_with_code(auth, old[1]).status_code == 401
    assert use_code(auth.client, new[0]).status_code == 303
    assert unused(ada) == 9


def make_stale(app, user: User) -> None:
    stale = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 60)
    db.session.execute(update(UserSession).where(UserSession.id == live_session(user).id).values(auth_time=stale))
    db.session.commit()


def step_up_asked(client) -> None:
    """The button was pressed without a recent proof: its page sends the person to the challenge first."""
    response = generate(client)
    assert response.status_code == 303 and response.headers["Location"] == NEW_CODES_URL
    challenge = client.get(NEW_CODES_URL)
    assert challenge.status_code == 302 and challenge.headers["Location"].endswith("/mfa/challenge")


def test_regenerating_without_fresh_authentication_creates_the_codes_after_the_challenge(app, ada, auth, mailbox):
    old = seed_codes(ada)
    sign_in_with_code(auth, old[0])
    make_stale(app, ada)

    step_up_asked(auth.client)

    assert unused(ada) == 9 and audit_types(ada).count("mfa.recovery_codes_generated") == 1
    mailbox.clear()
    # Passing the challenge returns to what the person asked for, and does it: the new set, shown once.
    back = use_code(auth.client, old[1])
    assert back.status_code == 303 and back.headers["Location"] == NEW_CODES_URL
    first_codes_then(auth.client, "/mfa/")
    assert unused(ada) == 10 and audit_types(ada).count("mfa.recovery_codes_generated") == 2
    assert codes_on(auth.client.get("/mfa/").get_data(as_text=True)) == []
    mailbox.wait_for(EMAIL, "recovery codes")


def test_the_new_codes_page_creates_nothing_unless_this_session_asked_for_it(app, ada, auth, create_user):
    old = seed_codes(ada)
    sign_in_with_code(auth, old[0])

    direct = auth.client.get(NEW_CODES_URL)  # a bookmark, a link from elsewhere: nothing asked for

    assert direct.status_code == 303 and direct.headers["Location"] == "/mfa/"
    assert unused(ada) == 9 and audit_types(ada).count("mfa.recovery_codes_generated") == 1


def test_a_request_for_codes_left_pending_too_long_lapses(app, ada, auth):
    old = seed_codes(ada)
    sign_in_with_code(auth, old[0])
    make_stale(app, ada)
    step_up_asked(auth.client)
    app.config["FRESH_AUTH_SECONDS"] = -1  # the request is older than the window now

    use_code(auth.client, old[1])

    assert auth.client.get(NEW_CODES_URL).headers["Location"] == "/mfa/"
    assert unused(ada) == 8 and audit_types(ada).count("mfa.recovery_codes_generated") == 1


def test_a_password_only_session_must_pass_the_factor_before_creating_codes(create_user, with_totp, auth):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)  # no factor yet: signed in with the password alone
    with_totp(user)

    step_up_asked(auth.client)

    assert unused(user) == 0


def test_creating_codes_needs_a_real_factor(create_user, auth):
    user = create_user(email=EMAIL)
    auth.login(EMAIL)
    page = auth.client.get("/mfa/").get_data(as_text=True)
    assert "Set up a second factor first" in page and "/mfa/recovery/generate" not in page

    response = auth.client.post("/mfa/recovery/generate", data={"csrf_token": csrf_from(page)})

    assert response.status_code == 400 and shows(response, NEEDS_FACTOR)
    assert unused(user) == 0 and "mfa.recovery_codes_generated" not in audit_types(user)


def test_creating_codes_needs_the_csrf_token(ada, auth):
    old = seed_codes(ada)
    sign_in_with_code(auth, old[0])

    response = auth.client.post("/mfa/recovery/generate", data={})

    assert response.status_code == 400 and codes_on(response.get_data(as_text=True)) == []
    assert unused(ada) == 9


def test_a_pending_session_cannot_create_codes(ada, auth):
    seed_codes(ada)
    auth.login(EMAIL)
    token = csrf_from(auth.client.get("/mfa/challenge").get_data(as_text=True))

    response = auth.client.post("/mfa/recovery/generate", data={"csrf_token": token})

    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert audit_types(ada).count("mfa.recovery_codes_generated") == 1


def test_removing_the_codes_leaves_none_to_sign_in_with(ada, auth):
    codes = seed_codes(ada)
    recovery.delete_recovery_codes(ada)
    db.session.commit()

    assert sign_in_with_code(auth, codes[0]).status_code == 401
