"""Export: a fresh-auth POST downloads everything held about the person as JSON, and never a secret."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from app.core.audit import Origin, record_event
from app.core.clients import ClientSpec, create_client
from app.core.email_tokens import issue_email_token
from app.extensions import db
from app.mfa.recovery import generate_recovery_codes
from app.mfa.totp import start_totp_enrolment
from app.models import (
    AuthorizationCode,
    EmailTokenPurpose,
    LinkedIdentity,
    OAuthConsent,
    PhoneFactor,
    RefreshToken,
    TotpFactor,
    User,
    UserSession,
    WebAuthnCredential,
)
from app.models.base import utcnow
from app.security import new_token, token_digest
from tests.conftest import audit_types, csrf_from

PHONE = "+447700900123"


@dataclass
class Held:
    """A person with one of everything, and the secrets that must never leave the server."""

    user: User
    secrets: list[str]


def session_of(user: User) -> UserSession:
    return db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at.desc())
    ).first()


def passed_mfa(user: User) -> UserSession:
    """Mark the user's newest session as having passed a second factor just now."""
    user_session = session_of(user)
    user_session.amr = ["pwd", "otp", "mfa"]
    user_session.auth_time = utcnow()
    db.session.commit()
    return user_session


def make_client(name: str):
    spec = ClientSpec(
        name=name,
        is_confidential=True,
        redirect_uris=["https://rp.example/cb"],
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile email offline_access",
    )
    return create_client(spec)


CREDENTIAL_ID = "Y3JlZGVudGlhbC1pZA"
PUBLIC_KEY = b"\x01\x02public-key-bytes\x03"


def add_factors(user: User) -> list[str]:
    """TOTP, a passkey, a phone and recovery codes; returns their secrets."""
    seed = start_totp_enrolment(user)
    totp = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id))
    totp.confirmed_at = utcnow()
    db.session.add(
        WebAuthnCredential(user_id=user.id, credential_id=CREDENTIAL_ID, public_key=PUBLIC_KEY, name="Blue key", is_passkey=True)
    )
    db.session.add(PhoneFactor(user_id=user.id, phone_e164=PHONE, verified_at=utcnow()))
    codes = [code.replace("-", "") for code in generate_recovery_codes(user, origin=Origin())]
    key_forms = [CREDENTIAL_ID, base64.b64encode(PUBLIC_KEY).decode(), PUBLIC_KEY.hex()]
    return [seed, totp.secret_encrypted, *key_forms, *codes, *map(token_digest, codes)]


def add_grants(user: User) -> list[str]:
    """A consent, a refresh token and a code at an app, and an old ended session; returns their secrets."""
    client, client_secret = make_client("Photo Printer")
    refresh_value, code_value, old_cookie = new_token("rt_"), new_token("ac_"), new_token()
    now, earlier = utcnow(), utcnow() - timedelta(days=3)
    db.session.add_all(
        [
            OAuthConsent(user_id=user.id, client_id=client.id, scope="openid profile"),
            AuthorizationCode(
                code_digest=token_digest(code_value),
                client_id=client.id,
                user_id=user.id,
                scope="openid",
                redirect_uri="https://rp.example/cb",
                auth_time=now,
                expires_at=now + timedelta(seconds=60),
            ),
            RefreshToken(
                token_digest=token_digest(refresh_value),
                family_id="fam1",
                client_id=client.id,
                user_id=user.id,
                scope="openid offline_access",
                auth_time=now,
                expires_at=now + timedelta(days=1),
            ),
            UserSession(
                id="oldsession",
                token_digest=token_digest(old_cookie),
                user_id=user.id,
                created_at=earlier,
                last_seen_at=earlier,
                auth_time=earlier,
                amr=["pwd"],
                ip_address="192.0.2.9",
                revoked_at=now,
            ),
        ]
    )
    record_event("oauth.consent_granted", origin=Origin("192.0.2.44"), subject=user, client_id=client.client_id)
    db.session.add(
        LinkedIdentity(user_id=user.id, provider="github", subject="583231", email="ada@gh.example", username="ada-gh")
    )
    return [client_secret, refresh_value, code_value, old_cookie, *map(token_digest, (refresh_value, code_value))]


@pytest.fixture
def held(create_user, auth) -> Held:
    user = create_user(
        email="ada@example.com",
        display_name="Ada L",
        given_name="Ada",
        family_name="Lovelace",
        locale="en-GB",
        zoneinfo="Europe/London",
    )
    auth.login(user.email)
    secrets = [user.password_hash, auth.client.get_cookie("idp_session").value, *add_factors(user), *add_grants(user)]
    email_link = issue_email_token(user, EmailTokenPurpose.RESET)
    db.session.commit()
    passed_mfa(user)
    secrets += [email_link, token_digest(email_link)]
    secrets += db.session.scalars(select(UserSession.token_digest).where(UserSession.user_id == user.id))
    return Held(user, secrets)


def download(auth):
    token = csrf_from(auth.client.get("/account/export").get_data(as_text=True))
    return auth.client.post("/account/export", data={"csrf_token": token})


def test_the_page_explains_the_download_and_offers_a_button(create_user, auth):
    user = create_user(email="ada@example.com")
    auth.login(user.email)

    response = auth.client.get("/account/export")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Download my data" in html and 'action="/account/export"' in html


def test_the_download_is_a_json_attachment_that_is_not_cached(held, auth):
    response = download(auth)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="account-export-')
    assert response.headers["Cache-Control"] == "no-store"
    assert "account.exported" in audit_types(held.user)


def test_the_export_holds_profile_sessions_apps_factors_and_events(held, auth):
    data = download(auth).get_json()

    assert data["profile"]["email"] == "ada@example.com"
    assert data["profile"]["given_name"] == "Ada" and data["profile"]["family_name"] == "Lovelace"
    assert data["profile"]["locale"] == "en-GB" and data["profile"]["zoneinfo"] == "Europe/London"
    assert data["profile"]["email_verified_at"] and data["profile"]["created_at"]
    assert len(data["sessions"]) == 2 and all(s["ip_address"] is not None for s in data["sessions"])
    assert data["connected_apps"] == [
        {
            "app": {"client_id": data["connected_apps"][0]["app"]["client_id"], "name": "Photo Printer"},
            "scopes": ["openid", "profile"],
            "granted_at": data["connected_apps"][0]["granted_at"],
        }
    ]
    [refresh] = data["refresh_tokens"]
    assert refresh["app"]["name"] == "Photo Printer" and refresh["scopes"] == ["openid", "offline_access"]
    assert refresh["issued_at"] and refresh["expires_at"] and refresh["revoked_at"] is None
    factors = data["second_factors"]
    assert factors["authenticator_app"]["confirmed_at"] is not None
    assert factors["security_keys"] == [
        {
            "name": "Blue key",
            "is_passkey": True,
            "backed_up": False,
            "added_at": factors["security_keys"][0]["added_at"],
            "last_used_at": None,
        }
    ]
    assert factors["phone"]["number"] == PHONE
    assert factors["recovery_codes_remaining"] == 10
    assert [link["purpose"] for link in data["email_links"]] == ["reset"]
    [linked] = data["linked_accounts"]
    assert linked == {
        "provider": "github",
        "subject": "583231",
        "email": "ada@gh.example",
        "username": "ada-gh",
        "linked_at": linked["linked_at"],
        "last_used_at": None,
    }
    events = {event["type"]: event for event in data["security_events"]}
    assert events["oauth.consent_granted"]["ip_address"] == "192.0.2.44"
    assert events["oauth.consent_granted"]["description"] == "Allowed an app to use your account"
    assert "auth.login" in events


def test_no_secret_ever_appears_in_the_export(held, auth):
    body = download(auth).get_data(as_text=True)

    leaked = [secret for secret in held.secrets if secret in body]
    assert leaked == []
    for word in ("digest", "password_hash", "secret_encrypted", "public_key", "credential_id", "token_digest"):
        assert word not in body


def test_only_the_person_s_own_data_is_exported(held, create_user, auth):
    bob = create_user(email="bob@example.com")
    record_event("auth.login", origin=Origin("203.0.113.77"), subject=bob)
    db.session.commit()

    body = download(auth).get_data(as_text=True)

    assert "bob@example.com" not in body and "203.0.113.77" not in body


def test_without_a_fresh_authentication_the_export_asks_for_one_first(create_user, auth, app):
    user = create_user(email="ada@example.com")
    auth.login(user.email)
    token = csrf_from(auth.client.get("/account/export").get_data(as_text=True))
    session_of(user).auth_time = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 1)
    db.session.commit()

    page = auth.client.get("/account/export")
    post = auth.client.post("/account/export", data={"csrf_token": token})

    for response in (page, post):
        assert response.status_code == 302
        assert "/login" in response.headers["Location"] and "reauth=1" in response.headers["Location"]
        assert "next=/account/export" in unquote(response.headers["Location"])
    assert "account.exported" not in audit_types(user)


def test_with_a_factor_a_stale_session_is_sent_to_the_challenge(held, auth, app):
    session_of(held.user).auth_time = utcnow() - timedelta(seconds=app.config["FRESH_AUTH_SECONDS"] + 1)
    db.session.commit()

    response = auth.client.get("/account/export")

    assert response.status_code == 302 and response.headers["Location"].endswith("/mfa/challenge")


def test_the_download_needs_the_csrf_token(held, auth):
    response = auth.client.post("/account/export", data={})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "account.exported" not in audit_types(held.user)


def test_signed_out_people_are_sent_to_sign_in(test_client):
    for response in (test_client.get("/account/export"), test_client.post("/account/export")):
        assert response.status_code in (302, 400)
    assert "/login" in test_client.get("/account/export").headers["Location"]
