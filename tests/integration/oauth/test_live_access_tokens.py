"""Live access tokens: every token issued to a person gets a row until it expires, and "revoke everything"
(a password reset, an admin's disable or revoke, account deletion, disconnecting an app, a client going)
deny-lists from those rows, never from the audit log, which is history only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from app.account.apps import disconnect_app
from app.admin.users import disable_user, revoke_tokens
from app.core import accounts as service
from app.core import email_tokens
from app.core.audit import Origin
from app.core.deletion import delete_account
from app.core.protocol import DEVICE_CODE
from app.core.revocation import prune_live_access_tokens, revoke_client_tokens
from app.extensions import db
from app.models import AuditEvent, EmailTokenPurpose, LiveAccessToken, OAuthClient, RevokedAccessToken, User, UserSession
from app.models.base import utcnow
from tests.conftest import csrf_from
from tests.integration.oauth.conftest import RelyingParty, count_rows, verify_jwt

HIDDEN_USER_CODE = 'name="user_code" value="'


# --- two ways to a person's access token without a refresh token beside it ---


def code_exchange_token(rp: RelyingParty, create_oauth_client, user: User | None) -> tuple[OAuthClient, str]:
    """Code flow without the refresh grant: the access token's jti is on the code row only (user None: signed in)."""
    client, secret = create_oauth_client(name="Short Lived", grant_types=["authorization_code"])
    tokens = rp.tokens(client, secret, user)
    assert "refresh_token" not in tokens
    return client, tokens["access_token"]


def device_token(rp: RelyingParty, create_oauth_client, user: User | None) -> tuple[OAuthClient, str]:
    """Device flow without the refresh grant: no code row, no refresh row names the access token (user None: signed in)."""
    client, _ = create_oauth_client(name="Kitchen Radio", is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE])
    started = rp.post("/oauth/device_authorization", client, None, {"scope": "openid profile"}).get_json()
    if user is not None:
        assert rp.auth.login(user.email).status_code == 303
    page = rp.http.post(
        "/device",
        data={"csrf_token": csrf_from(rp.http.get("/device").get_data(as_text=True)), "user_code": started["user_code"]},
    )
    html = page.get_data(as_text=True)
    user_code = html.split(HIDDEN_USER_CODE, 1)[1].split('"', 1)[0]
    decided = rp.http.post(
        "/device/decision", data={"csrf_token": csrf_from(html), "user_code": user_code, "decision": "approve"}
    )
    assert decided.status_code == 303, decided.status_code
    body = rp.post("/oauth/token", client, None, {"grant_type": DEVICE_CODE, "device_code": started["device_code"]}).get_json()
    assert "access_token" in body and "refresh_token" not in body, body
    return client, body["access_token"]


HOW_ISSUED: dict[str, Callable[..., tuple[OAuthClient, str]]] = {
    "code exchange without offline access": code_exchange_token,
    "device approval without offline access": device_token,
}


def reset_by_link(user: User) -> None:
    token = email_tokens.issue_email_token(user, EmailTokenPurpose.RESET)
    service.reset_password(token, "a brand new passphrase for ada", origin=Origin())


REVOKE_EVERYTHING = {
    "password reset by link": reset_by_link,
    "admin revokes every app's access": lambda user: revoke_tokens(user, actor=None, origin=Origin()),
    "admin disables the account": lambda user: disable_user(user, actor=None, origin=Origin()),
    "the person deletes the account": lambda user: delete_account(user, origin=Origin()),
}


def active(rp: RelyingParty, resource_server, token: str) -> bool:
    response = rp.introspect(*resource_server, token)
    assert response.status_code == 200
    return response.get_json()["active"]


def forget_the_audit_log() -> None:
    db.session.execute(delete(AuditEvent))
    db.session.commit()


def jti_of(rp: RelyingParty, token: str) -> str:
    return verify_jwt(rp.http, token).claims["jti"]


# --- revoke everything, with the audit log gone ---


@pytest.mark.parametrize("how", list(HOW_ISSUED))
@pytest.mark.parametrize("action", list(REVOKE_EVERYTHING))
def test_revoking_everything_reaches_refreshless_tokens_without_reading_the_audit_log(
    rp, user, create_oauth_client, resource_server, how, action
):
    _, token = HOW_ISSUED[how](rp, create_oauth_client, user)
    assert active(rp, resource_server, token)
    forget_the_audit_log()  # the audit log is history: revocation must not need it

    REVOKE_EVERYTHING[action](user)
    db.session.commit()

    assert not active(rp, resource_server, token)
    assert rp.userinfo(token).status_code == 401


# --- the rows ---


def test_each_person_token_gets_a_row_naming_it_and_machine_tokens_get_none(rp, user, rp_client, create_oauth_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user)
    refreshed = rp.refresh(client, secret, tokens["refresh_token"]).get_json()
    radio, radio_token = device_token(rp, create_oauth_client, None)
    machine, machine_secret = create_oauth_client(
        name="Billing job", grant_types=["client_credentials"], redirect_uris=[], scope="api"
    )
    machine_token = rp.post("/oauth/token", machine, machine_secret, {"grant_type": "client_credentials"}).get_json()[
        "access_token"
    ]

    db.session.expire_all()
    rows = {row.jti: row for row in db.session.scalars(select(LiveAccessToken))}
    sessions = list(db.session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)))
    person_tokens = {tokens["access_token"]: client, refreshed["access_token"]: client, radio_token: radio}
    assert set(rows) == {jti_of(rp, token) for token in person_tokens}
    assert jti_of(rp, machine_token) not in rows
    for token, issued_to in person_tokens.items():
        claims = verify_jwt(rp.http, token).claims
        row = rows[claims["jti"]]
        assert (row.user_id, row.client_id) == (user.id, issued_to.id)
        assert row.session_id in sessions  # the browser session that approved it
        assert int(row.expires_at.timestamp()) == claims["exp"]
        assert int(row.issued_at.timestamp()) == claims["iat"]


def test_pruning_removes_only_expired_rows(rp, user, rp_client):
    client, secret = rp_client
    live = jti_of(rp, rp.tokens(client, secret, user)["access_token"])
    expired = jti_of(rp, rp.tokens(client, secret)["access_token"])  # still signed in: a second token
    row = db.session.get(LiveAccessToken, expired)
    row.issued_at, row.expires_at = utcnow() - timedelta(hours=1), utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert prune_live_access_tokens() == 1
    db.session.commit()

    assert set(db.session.scalars(select(LiveAccessToken.jti))) == {live}


# --- one app: a person disconnects it, or the client is disabled or deleted ---


@pytest.mark.parametrize("how", list(HOW_ISSUED))
def test_disconnecting_an_app_denies_its_live_tokens_and_only_its_own(rp, user, create_oauth_client, resource_server, how):
    client, token = HOW_ISSUED[how](rp, create_oauth_client, user)
    _, other_token = code_exchange_token(rp, create_oauth_client, None)
    forget_the_audit_log()

    disconnect_app(user, client, origin=Origin())
    db.session.commit()

    assert not active(rp, resource_server, token)
    assert rp.userinfo(token).status_code == 401
    assert active(rp, resource_server, other_token)  # another app of the same person keeps its access


@pytest.mark.parametrize("how", list(HOW_ISSUED))
def test_a_client_revoked_deny_lists_its_refreshless_tokens(rp, user, create_oauth_client, how):
    client, token = HOW_ISSUED[how](rp, create_oauth_client, user)
    _, other_token = code_exchange_token(rp, create_oauth_client, None)

    revoke_client_tokens(client)
    db.session.commit()

    denied = set(db.session.scalars(select(RevokedAccessToken.jti)))
    assert jti_of(rp, token) in denied
    assert jti_of(rp, other_token) not in denied


def test_revoking_everything_twice_adds_nothing_the_second_time(rp, user, create_oauth_client):
    code_exchange_token(rp, create_oauth_client, user)
    device_token(rp, create_oauth_client, None)
    revoke_tokens(user, actor=None, origin=Origin())
    db.session.commit()
    denied = count_rows(RevokedAccessToken)
    assert denied == 2

    revoke_tokens(user, actor=None, origin=Origin())
    db.session.commit()

    assert count_rows(RevokedAccessToken) == denied
