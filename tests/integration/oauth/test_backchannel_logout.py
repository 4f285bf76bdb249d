"""OIDC Back-Channel Logout 1.0: every way a session ends tells the apps signed in through it, by a signed
logout token delivered after the request, retried when the app is down, audited either way."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select

from app.account.password import change_password
from app.admin.dashboard import end_user_session
from app.admin.users import disable_user
from app.core import logout_delivery
from app.core.accounts import sign_out
from app.core.audit import CLI_ORIGIN
from app.core.backchannel_logout import LOGOUT_EVENT
from app.core.deletion import delete_account
from app.core.keys import keyring
from app.core.live_sessions import end_session
from app.core.logout_delivery import RETRY_DELAYS, deliver_due
from app.extensions import db
from app.models import AuditEvent, PendingLogout, SessionApp
from app.models.base import utcnow
from tests.conftest import DEFAULT_PASSWORD, AuthActions
from tests.integration.auth.helpers import sessions_of
from tests.logout_receiver import logout_receiver


@pytest.fixture
def receiver():
    with logout_receiver() as receiver:
        yield receiver


@pytest.fixture
def user(create_user):
    return create_user(email="ada@example.com")


@pytest.fixture
def app_with_logout(create_oauth_client, receiver):
    return create_oauth_client(name="Notes", backchannel_logout_uri=receiver.uri)


def verify(token: str, client_id: str) -> tuple[dict, dict]:
    """The logout token's header and claims, after checking its signature against the published JWKS."""
    keys = KeySet.import_key_set(json.loads(keyring().jwks_json()))
    decoded = jwt.decode(token, keys)
    claims = decoded.claims
    assert claims["aud"] == client_id
    return decoded.header, claims


def delivery_events() -> list[AuditEvent]:
    db.session.expire_all()
    kinds = ("oauth.backchannel_logout_delivered", "oauth.backchannel_logout_failed")
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type.in_(kinds)).order_by(AuditEvent.id)))


def pending() -> list[PendingLogout]:
    db.session.expire_all()
    return list(db.session.scalars(select(PendingLogout)))


def test_signing_out_sends_each_app_a_signed_logout_token_with_sid_and_sub(app, rp, auth, user, app_with_logout, receiver):
    client, secret = app_with_logout
    id_token = jwt.decode(rp.tokens(client, secret, user)["id_token"], KeySet.import_key_set(json.loads(keyring().jwks_json())))
    [session] = sessions_of(user)

    assert auth.logout().status_code in (302, 303)
    assert receiver.received == []  # nothing is sent inside the person's request
    assert deliver_due() == 1

    [received] = receiver.received
    assert received.path == "/backchannel-logout"
    assert received.content_type == "application/x-www-form-urlencoded"
    header, claims = verify(received.logout_token, client.client_id)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    assert claims["iss"] == app.config["ISSUER"]
    assert claims["sub"] == id_token.claims["sub"] and claims["sid"] == id_token.claims["sid"] == session.id
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert "nonce" not in claims and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 120
    [event] = delivery_events()
    assert event.event_type == "oauth.backchannel_logout_delivered" and event.subject_user_id == user.id
    assert event.details["client_id"] == client.client_id and event.details["reason"] == "signed_out"
    assert "logout_token" not in json.dumps(event.details)
    assert pending() == [] and db.session.scalars(select(SessionApp)).all() == []


def test_only_apps_that_got_an_id_token_in_that_session_and_registered_a_uri_are_told(
    rp, auth, user, create_oauth_client, app_with_logout, receiver
):
    client, secret = app_with_logout
    quiet, quiet_secret = create_oauth_client(name="No back channel")
    rp.tokens(quiet, quiet_secret, user)
    rp.tokens(client, secret, scope="profile")  # no openid: no ID token, nothing to tell
    auth.logout()
    assert deliver_due() == 0 and receiver.received == []


def test_each_app_is_told_once_however_many_id_tokens_it_got(rp, auth, user, app_with_logout, receiver):
    client, secret = app_with_logout
    tokens = rp.tokens(client, secret, user, scope="openid offline_access")
    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 200
    rp.tokens(client, secret)  # the same browser signs in to the app again
    auth.logout()
    assert deliver_due() == 1 and len(receiver.received) == 1


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        ("rp_logout", "signed_out"),
        ("sessions_page", "ended_by_person"),
        ("console", "ended_by_operator"),
        ("password_change", "password_changed"),
        ("account_disabled", "account_disabled"),
        ("account_deleted", "account_deleted"),
    ],
)
def test_every_way_a_session_ends_tells_the_app(app, rp, user, app_with_logout, receiver, end, reason):
    client, secret = app_with_logout
    tokens = rp.tokens(client, secret, user)
    [session] = sessions_of(user)
    session_id = session.id
    _end(app, rp, user, session, tokens, end)
    db.session.commit()
    assert deliver_due() == 1
    [received] = receiver.received
    _header, claims = verify(received.logout_token, client.client_id)
    assert claims["sid"] == session_id
    assert delivery_events()[0].details["reason"] == reason


def _end(app, rp, user, session, tokens, end: str) -> None:
    if end == "rp_logout":
        page = rp.http.get("/oauth/logout", query_string={"id_token_hint": tokens["id_token"]})
        assert page.status_code in (200, 302, 303)
    elif end == "sessions_page":
        end_session(user, session, current=session, origin=CLI_ORIGIN)
    elif end == "console":
        end_user_session(user, session, origin=CLI_ORIGIN)
    elif end == "password_change":
        AuthActions(app.test_client()).login(user.email)  # a second browser changes the password
        [_, current] = sessions_of(user)
        change_password(user, current, current=DEFAULT_PASSWORD, new="the old one is gone 123!", origin=CLI_ORIGIN)
    elif end == "account_disabled":
        disable_user(user, actor=None, origin=CLI_ORIGIN)
    elif end == "account_deleted":
        delete_account(user, origin=CLI_ORIGIN)


def test_a_down_app_is_retried_on_a_schedule_then_given_up(rp, auth, user, create_oauth_client):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once closed
    client, secret = create_oauth_client(backchannel_logout_uri=f"http://127.0.0.1:{port}/bcl")
    rp.tokens(client, secret, user)
    auth.logout()
    now = utcnow()
    for attempt, delay in enumerate(RETRY_DELAYS, start=1):
        assert deliver_due(now) == 0
        [row] = pending()
        assert row.attempts == attempt and row.next_attempt_at == now + delay
        assert deliver_due(now + delay - timedelta(seconds=1)) == 0 and pending()[0].attempts == attempt  # not yet due
        now += delay
    assert deliver_due(now) == 0 and pending() == []  # the last attempt failed too: given up
    events = delivery_events()
    assert len(events) == len(RETRY_DELAYS) + 1
    assert all(event.details["result"] == "NewConnectionError" for event in events)
    assert events[-1].details["gave_up"] is True and "retry_at" in events[0].details


def test_an_app_that_answers_5xx_is_retried_and_one_that_answers_400_is_not(rp, auth, user, app_with_logout, receiver):
    client, secret = app_with_logout
    rp.tokens(client, secret, user)
    auth.logout()
    receiver.status = 503
    now = utcnow()
    deliver_due(now)
    assert pending()[0].attempts == 1
    receiver.status = 400  # the app refuses the token: sending it again changes nothing
    deliver_due(now + RETRY_DELAYS[0])
    assert pending() == []
    assert [event.details["result"] for event in delivery_events()] == ["HTTP 503", "HTTP 400"]
    assert len(receiver.received) == 2


def test_a_slow_app_is_cut_off_by_the_timeout_and_retried(app, rp, auth, user, app_with_logout, receiver):
    app.config["BACKCHANNEL_LOGOUT_TIMEOUT"] = 1
    receiver.delay = 3
    client, secret = app_with_logout
    rp.tokens(client, secret, user)
    auth.logout()
    assert deliver_due() == 0
    [row] = pending()
    assert row.attempts == 1 and delivery_events()[0].details["result"] in ("ReadTimeoutError", "TimeoutError")


def test_a_self_registered_app_is_never_sent_to_a_loopback_or_private_address(rp, auth, user, app_with_logout, receiver):
    client, secret = app_with_logout
    client.is_dynamically_registered = True  # it named its own URI: no aiming this server at its own network
    db.session.commit()
    rp.tokens(client, secret, user)
    auth.logout()
    assert deliver_due() == 0 and receiver.received == [] and pending() == []
    [event] = delivery_events()
    assert event.details["result"] == "host has a non-public address (127.0.0.1)" and event.details["gave_up"]


def test_a_disabled_app_is_not_told(rp, auth, user, app_with_logout, receiver):
    client, secret = app_with_logout
    rp.tokens(client, secret, user)
    client.is_disabled = True
    db.session.commit()
    auth.logout()
    assert deliver_due() == 0 and receiver.received == [] and pending() == []


def test_a_row_is_sent_by_one_worker_only(rp, user, app_with_logout, receiver):
    """Taking a row is one conditional UPDATE: the second taker finds it leased (PostgreSQL runs this too)."""
    client, secret = app_with_logout
    rp.tokens(client, secret, user)
    [session] = sessions_of(user)
    sign_out(session, origin=CLI_ORIGIN)
    db.session.commit()
    [row] = pending()
    now = utcnow()
    first = logout_delivery._take(row.id, now)
    assert first is not None and logout_delivery._take(row.id, now) is None


def test_a_rolled_back_sign_out_queues_nothing(rp, user, app_with_logout):
    client, secret = app_with_logout
    rp.tokens(client, secret, user)
    [session] = sessions_of(user)
    sign_out(session, origin=CLI_ORIGIN)
    db.session.rollback()
    assert pending() == [] and len(db.session.scalars(select(SessionApp)).all()) == 1


def test_the_cli_delivers_what_is_due(app, rp, auth, user, app_with_logout, receiver):
    client, secret = app_with_logout
    rp.tokens(client, secret, user)
    auth.logout()
    result = app.test_cli_runner().invoke(args=["maintenance", "deliver-logouts"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["delivered: 1", "waiting for a retry: 0"]
    assert len(receiver.received) == 1


def test_discovery_advertises_back_channel_logout_with_sid(test_client):
    metadata = test_client.get("/.well-known/openid-configuration").get_json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


def test_an_app_with_encrypted_id_tokens_gets_its_logout_token_encrypted_the_same_way(
    rp, auth, user, create_oauth_client, receiver
):
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-enc"})
    client, secret = create_oauth_client(
        jwks={"keys": [key.as_dict(private=False)]},
        encryption={"id_token_encrypted_response_alg": "ECDH-ES", "id_token_encrypted_response_enc": "A256GCM"},
        backchannel_logout_uri=receiver.uri,
    )
    rp.tokens(client, secret, user)
    auth.logout()
    deliver_due()
    [received] = receiver.received
    decrypted = jwe.decrypt_compact(received.logout_token, key, algorithms=["ECDH-ES", "A256GCM"])
    assert decrypted.protected["cty"] == "JWT"
    header, claims = verify(decrypted.plaintext.decode(), client.client_id)
    assert header["typ"] == "logout+jwt" and claims["events"] == {LOGOUT_EVENT: {}}
    with pytest.raises(JoseError):
        jwe.decrypt_compact(received.logout_token, ECKey.generate_key("P-256"), algorithms=["ECDH-ES", "A256GCM"])
