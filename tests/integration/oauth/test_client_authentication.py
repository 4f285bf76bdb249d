"""Client authentication at the token endpoint (RFC 6749 2.3, 5.2), driven by Authlib's own OAuth 2 client."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from requests.structures import CaseInsensitiveDict
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.core.client_cache import client_cache
from app.extensions import db
from app.models import AuthorizationCode
from tests.integration.oauth.conftest import REDIRECT_URI, count_rows, verify_jwt

METHODS = ["client_secret_basic", "client_secret_post", "none"]


class TestClientAdapter(requests.adapters.BaseAdapter):
    """Sends a requests.Session's calls to the Flask test client instead of the network."""

    __test__ = False

    def __init__(self, http) -> None:
        super().__init__()
        self.http = http

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"content-length", "host"}}
        answer = self.http.open(target, method=request.method, headers=headers, data=request.body)
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.get_data()
        response.url, response.request, response.encoding = request.url, request, "utf-8"
        return response

    def close(self) -> None:
        pass


def registered(create_oauth_client, method: str):
    if method == "none":
        return create_oauth_client(is_confidential=False)
    return create_oauth_client(token_endpoint_auth_method=method)


def session_for(app, http, client, secret, method: str) -> OAuth2Session:
    session = OAuth2Session(
        client.client_id,
        secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        scope="openid profile email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    session.mount(app.config["ISSUER"], TestClientAdapter(http))
    return session


def browser_code_flow(app, rp, session: OAuth2Session, user) -> tuple[str, str]:
    """Authlib builds the authorization URL; the test client plays the browser. Returns (callback URL, verifier)."""
    verifier = secrets.token_urlsafe(48)
    url, _state = session.create_authorization_url(f"{app.config['ISSUER']}/oauth/authorize", code_verifier=verifier, nonce="n1")
    rp.auth.login(user.email)
    parts = urlsplit(url)
    page = rp.http.get(f"{parts.path}?{parts.query}")
    response = rp.answer(page) if page.status_code == 200 else page
    return response.headers["Location"], verifier


@pytest.mark.parametrize("method", METHODS)
def test_authlib_client_runs_code_refresh_revoke_with_each_auth_method(app, rp, user, create_oauth_client, method):
    client, secret = registered(create_oauth_client, method)
    session = session_for(app, rp.http, client, secret, method)
    token_url = f"{app.config['ISSUER']}/oauth/token"

    callback, verifier = browser_code_flow(app, rp, session, user)
    token = session.fetch_token(token_url, authorization_response=callback, code_verifier=verifier)

    assert verify_jwt(rp.http, token["id_token"]).claims["aud"] == client.client_id
    refreshed = session.refresh_token(token_url, refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    revoked = session.revoke_token(
        f"{app.config['ISSUER']}/oauth/revoke", refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200
    with pytest.raises(OAuthError) as error:
        session.refresh_token(token_url, refresh_token=refreshed["refresh_token"])
    assert error.value.error == "invalid_grant"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_introspects_with_each_confidential_method(app, rp, user, create_oauth_client, method):
    client, secret = registered(create_oauth_client, method)
    session = session_for(app, rp.http, client, secret, method)
    tokens = rp.redeem(client, secret, rp.code(client, user), method=method).get_json()

    response = session.introspect_token(f"{app.config['ISSUER']}/oauth/introspect", tokens["access_token"])

    assert response.status_code == 200 and response.json()["active"] is True


def test_a_confidential_client_without_credentials_gets_401_and_the_code_survives(rp, user, create_oauth_client):
    client, secret = create_oauth_client()
    issued = rp.code(client, user)

    response = rp.redeem(client, None, issued)  # client_id only

    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers
    assert rp.redeem(client, secret, issued).status_code == 200


def test_a_wrong_secret_gets_401_and_the_code_survives(rp, user, create_oauth_client):
    client, secret = create_oauth_client()
    issued = rp.code(client, user)

    response = rp.redeem(client, "cs_" + secrets.token_urlsafe(32), issued)

    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert rp.redeem(client, secret, issued).status_code == 200


MALFORMED_AUTHORIZATION = [
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b":").decode(),
    "Basic ",
    "Basic",
    "Bearer something",
    "Digest username=x",
]


def test_a_malformed_authorization_header_is_invalid_client_not_a_server_error(rp, user, create_oauth_client, subtests):
    client, secret = create_oauth_client(is_first_party=True)
    issued = rp.code(client, user)
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": issued.verifier,
    }
    for authorization in MALFORMED_AUTHORIZATION:
        with subtests.test(authorization=authorization):
            response = rp.http.post("/oauth/token", data=data, headers={"Authorization": authorization})

            assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
            assert db.session.scalar(select(AuthorizationCode)).used_at is None
    for path in ("/oauth/revoke", "/oauth/introspect"):
        with subtests.test(path=path):
            response = rp.http.post(path, data={"token": "x"}, headers={"Authorization": "Basic "})
            assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"

    assert rp.redeem(client, secret, issued).status_code == 200


@pytest.mark.parametrize(
    ("registered_method", "used"), [("client_secret_basic", "client_secret_post"), ("client_secret_post", "client_secret_basic")]
)
def test_only_the_registered_auth_method_is_accepted(rp, user, create_oauth_client, registered_method, used):
    client, secret = create_oauth_client(token_endpoint_auth_method=registered_method)
    issued = rp.code(client, user)

    response = rp.redeem(client, secret, issued, method=used)

    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"
    assert rp.redeem(client, secret, issued, method=registered_method).status_code == 200


def test_a_client_secret_in_the_query_string_does_not_authenticate(rp, user, create_oauth_client):
    client, secret = create_oauth_client(token_endpoint_auth_method="client_secret_post")
    issued = rp.code(client, user)

    response = rp.http.post(
        f"/oauth/token?client_id={client.client_id}&client_secret={secret}",
        data={
            "grant_type": "authorization_code",
            "code": issued.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": issued.verifier,
        },
    )

    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_public_client_presenting_a_secret_is_refused(rp, user, create_oauth_client, method):
    """A secret that fails to verify is a failed authentication, not a reason to fall back to none."""
    client, _ = create_oauth_client(is_confidential=False)
    issued = rp.code(client, user)

    # client_id in the form too, so "none" could match if a failed secret were ignored
    response = rp.redeem(client, "cs_" + secrets.token_urlsafe(32), issued, method=method, client_id=client.client_id)

    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"
    assert count_rows(AuthorizationCode) == 1 and db.session.scalar(select(AuthorizationCode)).used_at is None


def test_a_disabled_client_can_no_longer_redeem_or_refresh(rp, user, create_oauth_client):
    client, secret = create_oauth_client()
    tokens = rp.tokens(client, secret, user)
    issued = rp.code(client)
    client.is_disabled = True
    db.session.commit()
    client_cache().invalidate(client.client_id)

    assert rp.redeem(client, secret, issued).get_json()["error"] == "invalid_client"
    assert rp.refresh(client, secret, tokens["refresh_token"]).get_json()["error"] == "invalid_client"


def test_an_oversized_client_id_is_refused_without_a_lookup(rp, create_oauth_client):
    response = rp.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("x" * 5000, "secret"))

    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_two_authentication_methods_in_one_request_are_refused_and_the_code_survives(rp, user, create_oauth_client):
    client, secret = create_oauth_client()
    issued = rp.code(client, user)

    # Basic and client_secret_post at once (RFC 6749 2.3: one method per request), even when both are right.
    response = rp.redeem(client, secret, issued, client_id=client.client_id, client_secret=secret)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert rp.redeem(client, secret, issued).status_code == 200


def test_a_secret_beside_a_client_assertion_is_refused(rp, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api")
    data = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": secret,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "a.b.c",
    }

    response = rp.http.post("/oauth/token", data=data)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_a_repeated_parameter_is_refused_at_every_client_authenticated_endpoint(rp, create_oauth_client, path):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api")
    data = MultiDict([("grant_type", "client_credentials"), ("token", "x"), ("scope", "api"), ("scope", "api")])

    response = rp.http.post(path, data=data, auth=(client.client_id, secret))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert "scope" in response.get_json()["error_description"]
