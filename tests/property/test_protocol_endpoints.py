"""Every protocol endpoint, thrown generated parameters, headers and bodies: never a 5xx, never a traceback."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.core.protocol import DEVICE_CODE
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures)
    ALL_SCOPES,
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
    pkce_pair,
    user,
)
from tests.property.conftest import (
    PROTOCOL,
    assert_no_server_error,
    header_text,
    hostile_params,
    hostile_text,
    json_values,
    raw_query,
)

AUTHORIZE_PARAMS = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age", "acr_values",
    "login_hint", "code_challenge", "code_challenge_method", "request", "request_uri", "ui_locales", "claims",
    "display", "id_token_hint", "response_mode",
]  # fmt: skip
TOKEN_PARAMS = [
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id", "client_secret",
    "client_assertion", "client_assertion_type", "device_code", "token", "token_type_hint",
]  # fmt: skip
LOGOUT_PARAMS = ["id_token_hint", "post_logout_redirect_uri", "state", "client_id", "logout_hint", "ui_locales"]


@pytest.fixture
def cast(app, create_oauth_client, first_party, user):
    """A confidential web client, a public device client, and two browsers: one signed in, one not."""
    web, secret = first_party
    device, _ = create_oauth_client(
        is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"], scope=ALL_SCOPES
    )
    signed_in = app.test_client()
    from tests.conftest import AuthActions  # noqa: PLC0415

    assert AuthActions(signed_in).login(user.email).status_code == 303
    return {"web": web, "secret": secret, "device": device, "signed_in": signed_in, "anonymous": app.test_client()}


def _valid_authorize(client) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "scope": "openid profile",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


@PROTOCOL
@given(
    overrides=hostile_params(AUTHORIZE_PARAMS),
    keep_valid=st.booleans(),
    signed_in=st.booleans(),
    method=st.sampled_from(["GET", "POST"]),
)
@example(overrides={"max_age": "99999999999999999999"}, keep_valid=True, signed_in=True, method="GET")
@example(overrides={"scope": 'openid "x'}, keep_valid=True, signed_in=True, method="POST")
def test_authorize(cast, overrides, keep_valid, signed_in, method):
    params = {**(_valid_authorize(cast["web"]) if keep_valid else {}), **overrides}
    http = cast["signed_in" if signed_in else "anonymous"]
    if method == "GET":
        response = http.get("/oauth/authorize", query_string=params)
    else:
        response = http.post("/oauth/authorize", data=params)
    assert_no_server_error(response)


@PROTOCOL
@given(query=raw_query(AUTHORIZE_PARAMS), signed_in=st.booleans())
def test_authorize_with_undecodable_bytes(cast, query, signed_in):
    http = cast["signed_in" if signed_in else "anonymous"]
    assert_no_server_error(http.get("/oauth/authorize?" + query))


@PROTOCOL
@given(overrides=hostile_params(AUTHORIZE_PARAMS))
def test_consent_answer(cast, overrides):
    params = {**_valid_authorize(cast["web"]), **overrides}
    response = cast["signed_in"].post("/oauth/authorize/consent", query_string=params, data={"decision": "approve"})
    assert_no_server_error(response)


def _client_auth(cast, kind: str, hostile: str) -> dict:
    web, secret = cast["web"], cast["secret"]
    if kind == "basic":
        return {"auth": (web.client_id, secret)}
    if kind == "hostile_basic":
        return {"headers": {"Authorization": "Basic " + base64.b64encode(hostile.encode()).decode()}}
    if kind == "header":
        return {"headers": {"Authorization": hostile}}
    return {}


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/device_authorization"])
@PROTOCOL
@given(
    form=hostile_params(TOKEN_PARAMS),
    grant_type=st.one_of(
        st.sampled_from(["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE]), hostile_text
    ),
    auth=st.sampled_from(["basic", "hostile_basic", "header", "none"]),
    header=header_text,
)
def test_token_family(cast, path, form, grant_type, auth, header):
    data = {"grant_type": grant_type, **form}
    response = cast["anonymous"].post(path, data=data, **_client_auth(cast, auth, header))
    assert_no_server_error(response)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/device_authorization"])
@PROTOCOL
@given(body=st.binary(max_size=300), content_type=st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data"]))
def test_token_family_with_raw_bodies(cast, path, body, content_type):
    response = cast["anonymous"].post(path, data=body, content_type=content_type, auth=(cast["web"].client_id, cast["secret"]))
    assert_no_server_error(response)


@PROTOCOL
@given(header=header_text, method=st.sampled_from(["GET", "POST"]), form=hostile_params(["access_token"]))
def test_userinfo(cast, header, method, form):
    response = cast["anonymous"].open("/oauth/userinfo", method=method, headers={"Authorization": header}, data=form)
    assert_no_server_error(response)


@PROTOCOL
@given(
    document=st.one_of(json_values, st.dictionaries(st.sampled_from(["redirect_uris", "scope", "client_name", "grant_types",
        "response_types", "token_endpoint_auth_method", "post_logout_redirect_uris", "jwks", "logo_uri", "contacts"]),
        json_values, max_size=6)),
    token=st.one_of(st.none(), header_text),
)  # fmt: skip
def test_registration(app, cast, document, token):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = cast["anonymous"].post(
        "/oauth/register", data=json.dumps(document), content_type="application/json", headers=headers
    )
    assert_no_server_error(response)


@PROTOCOL
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain"]),
)
@example(body="[" * 2000 + "]" * 2000, content_type="application/json")
def test_registration_with_raw_bodies(app, cast, body, content_type):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    assert_no_server_error(cast["anonymous"].post("/oauth/register", data=body, content_type=content_type))


@PROTOCOL
@given(
    client_id=hostile_text.filter(lambda s: "/" not in s and "?" not in s and "#" not in s),
    method=st.sampled_from(["GET", "PUT", "DELETE"]),
    token=header_text,
    document=json_values,
)
def test_client_configuration(cast, client_id, method, token, document):
    response = cast["anonymous"].open(
        "/oauth/register/" + (client_id or "x"), method=method, headers={"Authorization": f"Bearer {token}"}, json=document
    )
    assert_no_server_error(response)


@PROTOCOL
@given(params=hostile_params(LOGOUT_PARAMS), method=st.sampled_from(["GET", "POST"]), signed_in=st.booleans())
def test_end_session(cast, params, method, signed_in):
    http = cast["signed_in" if signed_in else "anonymous"]
    response = http.get("/oauth/logout", query_string=params) if method == "GET" else http.post("/oauth/logout", data=params)
    assert_no_server_error(response)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/oauth/jwks"])
@PROTOCOL
@given(params=hostile_params(["format", "callback"]), etag=header_text)
def test_public_metadata(cast, path, params, etag):
    response = cast["anonymous"].get(path, query_string=params, headers={"If-None-Match": etag, "If-Modified-Since": etag})
    assert_no_server_error(response)
