"""The sign-in flow around second factors: pending sessions reach nothing but the MFA pages.

Factor-specific proofs are tested beside each factor; this is what every factor shares.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import UserSession
from tests.conftest import DEFAULT_PASSWORD, audit_types, csrf_from

PROTECTED_PAGES = ["/account/", "/device"]


def sessions_of(user) -> list[UserSession]:
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at)))


def test_a_correct_password_with_a_factor_gives_a_pending_session_and_the_challenge(create_user, with_totp, auth):
    user = create_user(email="ada@example.com")
    with_totp(user)

    response = auth.login("ada@example.com")

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/mfa/challenge")
    [pending] = sessions_of(user)
    assert pending.pending == "mfa" and pending.amr == ["pwd"]
    assert "auth.password_verified" in audit_types(user) and "auth.login" not in audit_types(user)
    page = auth.client.get("/mfa/challenge")
    assert page.status_code == 200 and b"ada@example.com" in page.data


@pytest.mark.parametrize("path", PROTECTED_PAGES)
def test_a_pending_session_reaches_no_other_page(create_user, with_totp, auth, path):
    user = create_user(email="ada@example.com")
    with_totp(user)
    auth.login("ada@example.com")

    response = auth.client.get(path)

    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"] or "/mfa/challenge" in response.headers["Location"]
    assert b"ada@example.com" not in response.data


def test_the_sign_in_page_sends_a_pending_session_back_to_its_challenge(create_user, with_totp, auth):
    user = create_user(email="ada@example.com")
    with_totp(user)
    auth.login("ada@example.com")

    response = auth.client.get("/login")

    assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/challenge")


def test_the_security_page_is_not_reachable_with_a_pending_challenge(create_user, with_totp, auth):
    user = create_user(email="ada@example.com")
    with_totp(user)
    auth.login("ada@example.com")

    response = auth.client.get("/mfa/")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_cancelling_the_challenge_ends_the_pending_session(create_user, with_totp, auth):
    user = create_user(email="ada@example.com")
    with_totp(user)
    auth.login("ada@example.com")
    token = csrf_from(auth.client.get("/mfa/challenge").get_data(as_text=True))

    auth.client.post("/logout", data={"csrf_token": token})

    [ended] = sessions_of(user)
    assert ended.revoked_at is not None
    assert auth.client.get("/mfa/challenge").headers["Location"].endswith("/login")


def test_signing_in_again_from_a_pending_session_replaces_it(create_user, with_totp, auth):
    user = create_user(email="ada@example.com")
    with_totp(user)
    auth.login("ada@example.com")
    token = csrf_from(auth.client.get("/mfa/challenge").get_data(as_text=True))

    auth.client.post("/login", data={"csrf_token": token, "email": "ada@example.com", "password": DEFAULT_PASSWORD})

    first, second = sessions_of(user)
    assert first.revoked_at is not None and second.revoked_at is None and second.pending == "mfa"


def test_a_wrong_password_never_reaches_the_challenge(create_user, with_totp, auth):
    user = create_user(email="ada@example.com")
    with_totp(user)

    response = auth.login("ada@example.com", "wrong password entirely")

    assert response.status_code == 401
    assert sessions_of(user) == []
    assert auth.client.get("/mfa/challenge").headers["Location"].endswith("/login")


def test_without_a_factor_the_password_alone_signs_in(create_user, auth):
    user = create_user(email="ada@example.com")

    response = auth.login("ada@example.com")

    assert response.headers["Location"].endswith("/account/")
    [session] = sessions_of(user)
    assert session.pending is None


def test_an_admin_without_a_factor_must_enrol_before_anything_else(create_user, auth):
    admin = create_user(email="root@example.com", is_admin=True)

    response = auth.login("root@example.com")

    assert response.headers["Location"].endswith("/mfa/")
    [session] = sessions_of(admin)
    assert session.pending == "enrol"
    page = auth.client.get("/mfa/")
    assert page.status_code == 200 and b'id="must-enrol"' in page.data
    assert auth.client.get("/account/").status_code == 302
    assert auth.client.get("/mfa/challenge").headers["Location"].endswith("/login")


def test_require_mfa_makes_everyone_enrol(app_factory, create_user):
    app = app_factory(REQUIRE_MFA=True)
    with app.app_context():
        from tests.conftest import AuthActions

        user = create_user(email="ada@example.com")
        auth = AuthActions(app.test_client())

        response = auth.login("ada@example.com")

        assert response.headers["Location"].endswith("/mfa/")
        assert sessions_of(user)[0].pending == "enrol"


def test_an_admin_with_a_factor_gets_the_challenge_not_enrolment(create_user, with_totp, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    with_totp(admin)

    response = auth.login("root@example.com")

    assert response.headers["Location"].endswith("/mfa/challenge")


def test_the_challenge_page_needs_a_session(test_client):
    response = test_client.get("/mfa/challenge")

    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_a_signed_in_person_without_a_factor_has_nothing_to_step_up_with(create_user, auth):
    create_user(email="ada@example.com")
    auth.login("ada@example.com")

    response = auth.client.get("/mfa/challenge")

    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_the_account_overview_nudges_towards_a_second_factor_until_there_is_one(app, create_user, auth):
    user = create_user(email="ada@example.com")
    auth.login("ada@example.com")

    assert b"Add a second factor" in auth.client.get("/account/").data
    from tests.integration.mfa.conftest import add_totp

    add_totp(app, user)
    assert b"Manage second factors" in auth.client.get("/account/").data


def test_a_known_password_does_not_reset_the_count_of_wrong_second_factors(app, create_user, with_totp, auth):
    """Otherwise someone holding the password could guess codes forever, a few per sign-in."""
    user = create_user(email="ada@example.com", failed_login_count=3)
    with_totp(user)

    auth.login("ada@example.com")

    db.session.refresh(user)
    assert user.failed_login_count == 3


def test_wrong_second_factors_lock_the_account_like_wrong_passwords(app, create_user, with_totp, auth):
    from app.core.sign_in import challenge_locked
    from app.mfa.flow import fail_challenge

    user = create_user(email="ada@example.com")
    with_totp(user)
    with app.test_request_context("/mfa/challenge/totp", method="POST"):
        for _ in range(app.config["LOCKOUT_THRESHOLD"]):
            fail_challenge(user, "totp")

    db.session.refresh(user)
    assert user.locked_until is not None and challenge_locked(user)
    assert "auth.locked" in audit_types(user)
    assert auth.login("ada@example.com").status_code == 401  # the password step is closed too


def add_verified_phone(user) -> None:
    from app.models import PhoneFactor
    from app.models.base import utcnow

    db.session.add(PhoneFactor(user_id=user.id, phone_e164="+15555550123", verified_at=utcnow()))
    db.session.commit()


def test_an_admin_whose_only_factor_is_sms_must_set_up_a_stronger_one(create_user, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    add_verified_phone(admin)

    response = auth.login("root@example.com")

    assert response.headers["Location"].endswith("/mfa/")
    assert sessions_of(admin)[0].pending == "enrol"


def test_sms_alone_is_enough_for_everyone_else(create_user, auth):
    user = create_user(email="ada@example.com")
    add_verified_phone(user)

    assert auth.login("ada@example.com").headers["Location"].endswith("/mfa/challenge")


def test_an_admin_cannot_remove_a_factor_and_be_left_with_sms_alone(app, create_user, with_totp):
    from app.core.sign_in import keeps_required_factor

    admin = create_user(email="root@example.com", is_admin=True)
    user = create_user(email="ada@example.com")

    assert not keeps_required_factor(admin, ["sms"])
    assert keeps_required_factor(admin, ["sms", "totp"])
    assert keeps_required_factor(user, ["sms"])
    assert keeps_required_factor(user, [])  # no requirement, no factor needed
