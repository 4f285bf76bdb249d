"""A relying party's side of the journeys: registration through the CLI, Authlib's requests client,
the browser steps of an authorization request, and ID token checks done with joserfc and the
published JWKS only (never with the server's own code).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, expect

from tests.e2e.server import LiveServer
from tests.e2e.ui import LOGIN_URL, PASSWORD, new_email, submit_sign_in
from tests.mailbox import free_port

SCOPE = "openid profile email"


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str | None
    redirect_uri: str


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    password: str = PASSWORD


def loopback_redirect_uri() -> str:
    """A loopback callback where nothing listens; Playwright answers it for the app (``answer_for_apps``)."""
    return f"http://127.0.0.1:{free_port()}/callback"


def register_client(server: LiveServer, name: str, *, public: bool = False, redirect_uri: str | None = None) -> Client:
    """``flask clients create`` against the server's database: a code-flow client, or a resource server."""
    args = ["clients", "create", "--name", name, "--type", "public" if public else "confidential"]
    if redirect_uri:
        args += ["--redirect-uri", redirect_uri, "--grant", "authorization_code", "--grant", "refresh_token", "--scope", SCOPE]
    else:
        args += ["--grant", "client_credentials", "--scope", "api"]
    output = server.flask(*args)
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return Client(data["client_id"], data.get("client_secret"), redirect_uri or "")


def create_person(server: LiveServer, name: str = "Ada Lovelace") -> Person:
    person = Person(new_email(), name)
    server.flask("users", "create", "--email", person.email, "--password", person.password, "--name", person.name)
    return person


def discover(server: LiveServer) -> dict:
    """OpenID Provider metadata, fetched the way a relying party configures itself."""
    response = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    metadata = response.json()
    assert metadata["issuer"] == server.url
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    return metadata


def rp_session(client: Client, *, scope: str = SCOPE, **kwargs) -> OAuth2Session:
    session = OAuth2Session(
        client.client_id,
        client.client_secret,
        scope=scope,
        redirect_uri=client.redirect_uri or None,
        code_challenge_method="S256",
        **kwargs,
    )
    session.trust_env = False  # no proxy or netrc from the environment between the RP and the loopback server
    return session


def callback_pattern(redirect_uri: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(redirect_uri) + r"(\?.*)?$")


# Every app in the journeys has a loopback callback (``loopback_redirect_uri``) where nothing listens.
APP_CALLBACKS = re.compile(r"^http://127\.0\.0\.1:\d+/callback(\?.*)?$")
APP_CALLBACK_PAGE = "<!doctype html><title>App</title><p>The app received the answer.</p>"


def answer_for_apps(page: Page) -> None:
    """Playwright answers the apps' callbacks, as a live app would.

    A refused callback turns into Chromium's error page a moment later, and that navigation could
    interrupt whatever the test does next; an answered one leaves the page settled.
    """
    page.unroute(APP_CALLBACKS)
    page.route(APP_CALLBACKS, lambda route: route.fulfill(status=200, content_type="text/html", body=APP_CALLBACK_PAGE))


def reach_app(page: Page, redirect_uri: str, step: Callable[[], object]) -> str:
    """Takes the step that sends the browser to the app, waits until the page is there; the callback URL."""
    pattern = callback_pattern(redirect_uri)
    with page.expect_request(pattern) as callback:
        step()
    page.wait_for_url(pattern)
    return callback.value.url


def start_at_rp(page: Page, authorization_url: str) -> None:
    """The person starts on the relying party's page and follows its sign-in link to the IdP."""
    answer_for_apps(page)
    page.goto("about:blank")
    page.set_content(f'<a href="{html.escape(authorization_url)}">Sign in with the identity provider</a>')
    page.get_by_role("link", name="Sign in with the identity provider").click()


def sign_in_and_answer_consent(page: Page, authorization_url: str, person: Person, redirect_uri: str, *, decision: str) -> str:
    """From the RP's sign-in link through sign-in and the consent page; the callback URL the browser was sent to.

    The request the browser makes to the callback is the authorization response; Playwright answers it
    for the app (``answer_for_apps``).
    """
    start_at_rp(page, authorization_url)
    expect(page).to_have_url(LOGIN_URL)
    submit_sign_in(page, person.email, person.password)
    expect(page.get_by_role("heading", name=re.compile(r"^Allow .+ to use your account\?$"))).to_be_visible()
    return reach_app(page, redirect_uri, page.get_by_role("button", name=decision, exact=True).click)


def authorize_again(page: Page, authorization_url: str, redirect_uri: str) -> str:
    """Signed in, consent remembered: the authorization request goes straight back to the callback."""
    return reach_app(page, redirect_uri, lambda: start_at_rp(page, authorization_url))


def query(url: str) -> dict[str, str]:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in values.values()), f"a parameter repeats in {url}"
    return {key: value[0] for key, value in values.items()}


def published_keys(metadata: dict) -> KeySet:
    response = requests.get(metadata["jwks_uri"], timeout=10)
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: left half of the SHA-256 of the access token, base64url without padding (RS256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def verify_id_token(id_token: str, metadata: dict, client: Client, *, nonce: str, access_token: str) -> dict:
    """Signature against the published JWKS, then iss, aud, nonce, at_hash and the times."""
    algorithms = metadata["id_token_signing_alg_values_supported"]
    token = jwt.decode(id_token, published_keys(metadata), algorithms=algorithms)
    assert token.header["alg"] in algorithms
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client.client_id},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
        at_hash={"essential": True, "value": at_hash(access_token)},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
    ).validate(claims)
    if isinstance(claims["aud"], list):
        assert claims.get("azp") == client.client_id  # several audiences: azp names the client (OIDC Core 3.1.3.7)
    return claims


def verify_device_id_token(id_token: str, metadata: dict, client_id: str, *, access_token: str) -> dict:
    """A device flow's ID token: same signature and claim checks, without a nonce (none was sent)."""
    token = jwt.decode(id_token, published_keys(metadata), algorithms=metadata["id_token_signing_alg_values_supported"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        at_hash={"essential": True, "value": at_hash(access_token)},
        exp={"essential": True},
        auth_time={"essential": True},
    ).validate(token.claims)
    assert "nonce" not in token.claims
    return token.claims


def verify_access_token(access_token: str, metadata: dict, client: Client) -> dict:
    """A resource server's local check of the RFC 9068 JWT access token against the JWKS."""
    keys = published_keys(metadata)
    algorithms = sorted({key.get("alg") for key in keys.as_dict()["keys"] if key.get("alg")})
    token = jwt.decode(access_token, keys, algorithms=algorithms)
    assert token.header["typ"].lower() == "at+jwt"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        client_id={"essential": True, "value": client.client_id},
        sub={"essential": True},
        jti={"essential": True},
        exp={"essential": True},
        aud={"essential": True},
    ).validate(token.claims)
    return token.claims


def introspect(resource_server: OAuth2Session, metadata: dict, token: str, hint: str) -> dict:
    response = resource_server.introspect_token(metadata["introspection_endpoint"], token=token, token_type_hint=hint)
    assert response.status_code == 200
    return response.json()


def userinfo_status(metadata: dict, access_token: str) -> int:
    response = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    return response.status_code
