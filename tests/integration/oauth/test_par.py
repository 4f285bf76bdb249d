"""Pushed authorization requests (RFC 9126): push, authorize by request_uri, sign in, consent, code, tokens."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.core import pushed_requests
from app.core.protocol import ACR_MFA
from app.extensions import db
from app.models import AuthorizationCode, PushedAuthorizationRequest
from app.models.base import utcnow
from tests.conftest import csrf_from
from tests.integration.mfa.conftest import add_totp
from tests.integration.oauth.conftest import REDIRECT_URI, Issued, count_rows, params_of
from tests.integration.oauth.par_helpers import assert_request_uri_page, follow_sign_in, front, push, pushed_uri


@pytest.fixture
def signed_in_user(auth, create_user):
    user = create_user(email="ada@example.com")
    auth.login(user.email)
    return user


@pytest.fixture
def signed_in_first_party(signed_in_user, first_party):
    return first_party


def _later(monkeypatch, seconds: int) -> None:
    monkeypatch.setattr(pushed_requests, "utcnow", lambda: utcnow() + timedelta(seconds=seconds))


@pytest.fixture
def consenting(create_oauth_client):
    """A confidential client that is not first party: its requests go through the consent page."""
    return create_oauth_client(name="Photo Book")


def _code_from(response, app, pending) -> Issued:
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    location = params_of(response)
    assert location["state"] == pending.params["state"]
    assert location["iss"] == app.config["ISSUER"]
    return Issued(location["code"], pending.verifier, pending.params["redirect_uri"], location)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_the_whole_flow_for_a_confidential_client(app, rp, create_user, consenting, method):
    client, secret = consenting
    client.token_endpoint_auth_method = method
    user = create_user(email="ada@example.com")
    pending, response = push(rp, client, secret, method=method)
    request_uri = pushed_uri(response)

    to_login = front(rp, client.client_id, request_uri)
    # Sign-in carries only the two front-channel parameters; the request itself stays on the server.
    next_url = parse_qs(urlsplit(to_login.location).query)["next"][0]
    assert sorted(parse_qs(urlsplit(next_url).query)) == ["client_id", "request_uri"]
    consent_page = follow_sign_in(rp, to_login, user.email)
    assert consent_page.status_code == 200
    assert "request_uri=" in rp.consent_action(consent_page) and "scope=" not in rp.consent_action(consent_page)
    issued = _code_from(rp.answer(consent_page), app, pending)

    tokens = rp.redeem(client, secret, issued, method=method)
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    assert tokens.get_json()["scope"] == "openid profile email"
    # Spent with the code: the same request_uri again (a reload, a replay) is refused.
    assert_request_uri_page(front(rp, client.client_id, request_uri))


def test_the_whole_flow_for_a_public_client(app, rp, create_user, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False, token_endpoint_auth_method="none", is_first_party=True)
    user = create_user(email="ada@example.com")
    pending, response = push(rp, client, None)
    request_uri = pushed_uri(response)
    issued = _code_from(follow_sign_in(rp, front(rp, client.client_id, request_uri), user.email), app, pending)
    assert rp.redeem(client, None, issued).status_code == 200


def test_front_channel_parameters_are_ignored(app, rp, signed_in_first_party):
    client, secret = signed_in_first_party
    pending, response = push(rp, client, secret, scope="openid")
    extra = {"scope": "openid profile email", "redirect_uri": "https://evil.example/cb", "state": "forged", "prompt": "none"}
    answer = front(rp, client.client_id, pushed_uri(response), **extra)
    assert answer.location.startswith(REDIRECT_URI + "?")  # the pushed redirect_uri, not the added one
    issued = _code_from(answer, app, pending)
    assert issued.location["state"] == pending.params["state"]
    assert rp.redeem(client, secret, issued).get_json()["scope"] == "openid"


def test_errors_for_the_app_go_to_the_pushed_redirect_uri_and_spend_it(app, rp, signed_in_first_party):
    client, secret = signed_in_first_party
    pending, response = push(rp, client, secret, prompt="login none")
    request_uri = pushed_uri(response)
    answer = front(rp, client.client_id, request_uri, redirect_uri="https://evil.example/cb")
    assert answer.location.startswith(pending.params["redirect_uri"] + "?")
    assert params_of(answer)["error"] == "invalid_request"
    assert params_of(answer)["state"] == pending.params["state"]
    assert_request_uri_page(front(rp, client.client_id, request_uri))


def test_prompt_login_is_satisfied_by_the_sign_in_it_asked_for(app, rp, signed_in_user, first_party):
    client, secret = first_party
    pending, response = push(rp, client, secret, prompt="login", max_age="0")
    to_login = front(rp, client.client_id, pushed_uri(response))
    assert parse_qs(urlsplit(to_login.location).query)["reauth"] == ["1"]
    _code_from(follow_sign_in(rp, to_login, signed_in_user.email), app, pending)


def test_a_request_uri_is_single_use_even_before_the_code_is_redeemed(app, rp, signed_in_first_party):
    client, secret = signed_in_first_party
    _, response = push(rp, client, secret)
    request_uri = pushed_uri(response)
    assert "code" in params_of(front(rp, client.client_id, request_uri))
    assert_request_uri_page(front(rp, client.client_id, request_uri))
    assert count_rows(AuthorizationCode) == 1


def test_an_expired_request_uri_is_refused(app, rp, signed_in_first_party, monkeypatch):
    client, secret = signed_in_first_party
    _, response = push(rp, client, secret)
    _later(monkeypatch, app.config["PAR_SECONDS"])
    assert_request_uri_page(front(rp, client.client_id, pushed_uri(response)))
    assert count_rows(AuthorizationCode) == 0


def test_opened_in_time_the_person_may_take_longer_to_sign_in(app, rp, create_user, create_oauth_client, monkeypatch):
    client, secret = create_oauth_client(is_first_party=True)
    user = create_user(email="ada@example.com")
    pending, response = push(rp, client, secret)
    to_login = front(rp, client.client_id, pushed_uri(response))
    _later(monkeypatch, 10 * 60)
    _code_from(follow_sign_in(rp, to_login, user.email), app, pending)


def test_another_clients_request_uri_is_refused(app, rp, signed_in_first_party, create_oauth_client):
    client, secret = signed_in_first_party
    other, _ = create_oauth_client(is_first_party=True)
    _, response = push(rp, client, secret)
    request_uri = pushed_uri(response)
    assert_request_uri_page(front(rp, other.client_id, request_uri))
    assert_request_uri_page(rp.http.get("/oauth/authorize", query_string={"request_uri": request_uri}))
    assert "code" in params_of(front(rp, client.client_id, request_uri))  # still usable by its own client


def test_malformed_and_unknown_request_uris_get_the_page(rp, signed_in_first_party, subtests):
    client, _ = signed_in_first_party
    urn = "urn:ietf:params:oauth:request_uri:"
    for value in ["", urn, urn + "nope", "https://rp.example/r", urn + "x" * 5000, urn + "\x00", "urn:other:abc"]:
        with subtests.test(value=value[:60]):
            assert_request_uri_page(front(rp, client.client_id, value))
    assert count_rows(AuthorizationCode) == 0


def test_only_a_digest_is_stored(rp, first_party):
    client, secret = first_party
    _, response = push(rp, client, secret, resource=None)
    random_part = pushed_uri(response).rsplit(":", 1)[1]
    row = db.session.scalar(db.select(PushedAuthorizationRequest))
    assert random_part not in row.digest and len(row.digest) == 64
    assert ["client_id", client.client_id] in row.parameters
    assert not any(name == "client_secret" for name, _ in row.parameters)


def test_mfa_step_up_carries_the_request_uri(app, rp, signed_in_user, first_party):
    client, secret = first_party
    totp = add_totp(app, signed_in_user)
    pending, response = push(rp, client, secret, acr_values=ACR_MFA)
    request_uri = pushed_uri(response)
    assert front(rp, client.client_id, request_uri).location.endswith("/mfa/challenge")
    token = csrf_from(rp.http.get("/mfa/challenge").get_data(as_text=True))
    back = rp.http.post("/mfa/challenge/totp", data={"csrf_token": token, "totp_code": totp.now()})
    assert parse_qs(urlsplit(back.location).query) == {"client_id": [client.client_id], "request_uri": [request_uri]}
    issued = _code_from(rp.http.get(back.location), app, pending)
    assert rp.redeem(client, secret, issued).status_code == 200
