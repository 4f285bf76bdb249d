"""Pushed authorization requests (RFC 9126): what the PAR endpoint refuses, required PAR, discovery, RFC 8707."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import OAuthClient, PushedAuthorizationRequest
from tests.integration.oauth.conftest import count_rows, params_of, pkce_pair
from tests.integration.oauth.par_helpers import PAR, assert_json_error, front, push, pushed_uri
from tests.integration.oauth.test_dynamic_registration import METADATA
from tests.integration.oauth.test_private_key_jwt import ASSERTION_TYPE, client_key, make_assertion  # noqa: F401
from tests.integration.oauth.test_resource_indicators import PHOTOS, allow, photos  # noqa: F401 (fixture)


@pytest.fixture
def signed_in(auth, create_user):
    user = create_user(email="ada@example.com")
    auth.login(user.email)
    return user


def test_a_confidential_client_must_authenticate(rp, first_party):
    client, secret = first_party
    _, unauthenticated = push(rp, client, None, method="none")
    assert_json_error(unauthenticated, "invalid_client", 401)
    _, wrong_secret = push(rp, client, "cs_wrong", method="client_secret_basic")
    assert_json_error(wrong_secret, "invalid_client", 401)
    _, wrong_method = push(rp, client, secret, method="client_secret_post")  # registered: client_secret_basic
    assert_json_error(wrong_method, "invalid_client", 401)
    assert count_rows(PushedAuthorizationRequest) == 0


def test_the_client_id_in_the_body_must_be_the_authenticated_client(rp, first_party, create_oauth_client):
    client, secret = first_party
    other, _ = create_oauth_client()
    response = rp.http.post(
        PAR, auth=(client.client_id, secret), data={**rp.request(client).params, "client_id": other.client_id}
    )
    assert_json_error(response, "invalid_request")


def test_basic_authentication_without_client_id_in_the_body_is_enough(rp, first_party):
    client, secret = first_party
    params = {k: v for k, v in rp.request(client).params.items() if k != "client_id"}
    pushed_uri(rp.http.post(PAR, auth=(client.client_id, secret), data=params))


def test_invalid_requests_are_refused_as_json_never_redirected(rp, first_party, subtests):
    client, secret = first_party
    _, challenge = pkce_pair()
    cases = [
        ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"scope": "openid\x00"}, "invalid_scope"),
        ({"resource": "https://unknown.example/api"}, "invalid_target"),
        ({"resource": "not a uri"}, "invalid_target"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "9" * 40}, "invalid_request"),
    ]
    for overrides, error in cases:
        with subtests.test(overrides=overrides):
            _, response = push(rp, client, secret, **overrides)
            assert_json_error(response, error)
    assert count_rows(PushedAuthorizationRequest) == 0


def test_repeated_parameters_are_refused_but_resource_may_repeat(rp, first_party, photos):  # noqa: F811
    client, secret = first_party
    allow(client, photos)
    params = list(rp.request(client, scope="openid photos:read").params.items())
    nonce_twice = rp.http.post(PAR, auth=(client.client_id, secret), data=MultiDict([*params, ("nonce", "a"), ("nonce", "b")]))
    assert_json_error(nonce_twice, "invalid_request")
    secret_twice = rp.http.post(PAR, data=MultiDict([*params, ("client_secret", secret), ("client_secret", secret)]))
    assert_json_error(secret_twice, "invalid_request")
    resource_twice = rp.http.post(
        PAR, auth=(client.client_id, secret), data=MultiDict([*params, ("resource", PHOTOS), ("resource", PHOTOS)])
    )
    pushed_uri(resource_twice)


def test_only_form_encoded_bodies(rp, first_party):
    client, secret = first_party
    response = rp.http.post(PAR, auth=(client.client_id, secret), json=rp.request(client).params)
    assert_json_error(response, "invalid_request")
    too_many = rp.http.post(
        PAR, auth=(client.client_id, secret), data={**rp.request(client).params, **{f"x{i}": "y" for i in range(60)}}
    )
    assert_json_error(too_many, "invalid_request")


def test_a_client_that_requires_par_is_refused_without_it(app, rp, signed_in, create_oauth_client):
    client, secret = create_oauth_client(is_first_party=True, require_pushed_authorization_requests=True)
    plain = rp.authorize(rp.request(client))
    assert params_of(plain)["error"] == "invalid_request"
    _, response = push(rp, client, secret)
    assert "code" in params_of(front(rp, client.client_id, pushed_uri(response)))


def test_the_global_setting_requires_par_of_every_client(app, rp, signed_in, first_party, monkeypatch):
    client, secret = first_party
    monkeypatch.setitem(app.config, "REQUIRE_PAR", True)
    assert params_of(rp.authorize(rp.request(client)))["error"] == "invalid_request"
    _, response = push(rp, client, secret)
    assert "code" in params_of(front(rp, client.client_id, pushed_uri(response)))


def test_discovery_advertises_the_endpoint(app, rp, monkeypatch):
    metadata = rp.http.get("/.well-known/openid-configuration").get_json()
    assert metadata["pushed_authorization_request_endpoint"] == app.config["ISSUER"] + PAR
    assert metadata["require_pushed_authorization_requests"] is False
    assert metadata["request_uri_parameter_supported"] is False


def test_resource_indicators_and_form_post_go_through_par(app, rp, signed_in, first_party, photos):  # noqa: F811
    client, secret = first_party
    allow(client, photos)
    pending, response = push(rp, client, secret, scope="openid photos:read", resource=PHOTOS, response_mode="form_post")
    page = front(rp, client.client_id, pushed_uri(response), response_mode="query")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)


def test_clients_create_can_require_par(app):
    args = ["clients", "create", "--name", "Pushed", "--redirect-uri", "https://rp.example/cb", "--require-par"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output.strip().splitlines()[-1])["client_id"]
    assert _requires_par(client_id) is True


def test_dynamic_registration_takes_require_par(test_client, subtests):
    test_client.application.config["OPEN_CLIENT_REGISTRATION"] = True
    for value, status in [(True, 201), (False, 201), ("yes", 400), (1, 400)]:
        with subtests.test(value=value):
            response = test_client.post("/oauth/register", json={**METADATA, "require_pushed_authorization_requests": value})
            assert response.status_code == status, response.get_json()
            if status == 201:
                assert response.get_json()["require_pushed_authorization_requests"] is value
                assert _requires_par(response.get_json()["client_id"]) is value
            else:
                assert response.get_json()["error"] == "invalid_client_metadata"


def _requires_par(client_id: str) -> bool | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient.require_pushed_authorization_requests).where(OAuthClient.client_id == client_id))


def test_private_key_jwt_with_the_issuer_as_audience(app, rp, create_oauth_client, client_key):  # noqa: F811
    jwks = {"keys": [client_key.as_dict(private=False)]}
    client, _ = create_oauth_client(token_endpoint_auth_method="private_key_jwt", jwks=jwks)
    credentials = {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": make_assertion(client.client_id, client_key, aud=app.config["ISSUER"]),
    }
    pushed_uri(rp.http.post(PAR, data={**rp.request(client).params, **credentials}))
    without = rp.http.post(PAR, data=rp.request(client).params)
    assert_json_error(without, "invalid_client", 401)
