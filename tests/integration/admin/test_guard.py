"""The console's guard: administrators with a recent second factor, nobody else, on every route."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import UserSession
from app.models.base import utcnow
from tests.conftest import csrf_from
from tests.integration.mfa.conftest import add_totp


def admin_routes(app) -> list[str]:
    """Every GET route of the console without URL parameters (the rest are covered per page)."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") and "GET" in rule.methods and not rule.arguments
    )


def signed_in_with_totp(auth, user, totp) -> None:
    auth.login(user.email)
    token = csrf_from(auth.client.get("/mfa/challenge").get_data(as_text=True))
    response = auth.client.post("/mfa/challenge/totp", data={"csrf_token": token, "totp_code": totp.now()})
    assert response.status_code == 303


def test_the_console_has_routes_to_guard(app):
    assert "/admin/" in admin_routes(app)


def test_anonymous_people_are_sent_to_sign_in_everywhere(app, test_client):
    for path in admin_routes(app):
        response = test_client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_a_signed_in_non_admin_gets_403_and_no_data(app, create_user, auth):
    create_user(email="ada@example.com")
    create_user(email="secret-colleague@example.com")
    auth.login("ada@example.com")
    for path in admin_routes(app):
        response = auth.client.get(path)
        assert response.status_code == 403, path
        assert b"Not allowed" in response.data and b"secret-colleague" not in response.data, path


def test_an_admin_with_a_stale_second_factor_steps_up_first(app, create_user, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    totp = add_totp(app, admin)
    signed_in_with_totp(auth, admin, totp)
    session = db.session.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).one()
    session.auth_time = utcnow() - timedelta(seconds=app.config["ADMIN_MFA_MAX_AGE_SECONDS"] + 1)
    db.session.commit()

    for path in admin_routes(app):
        response = auth.client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/challenge"), path


def test_an_admin_promoted_during_a_password_only_session_must_enrol(app, create_user, auth):
    user = create_user(email="ada@example.com")
    auth.login("ada@example.com")
    user.is_admin = True
    db.session.commit()

    response = auth.client.get("/admin/")

    assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/")


def test_an_admin_with_a_recent_second_factor_gets_in(app, create_user, auth):
    admin = create_user(email="root@example.com", is_admin=True)
    signed_in_with_totp(auth, admin, add_totp(app, admin))

    assert auth.client.get("/admin/").status_code == 200
