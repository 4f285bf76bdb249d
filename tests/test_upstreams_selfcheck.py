"""The loopback upstreams behave as the social sign-in tests assume: fake GitHub, fake Discord, upstream IdP.

Needs the ``tests.upstreams`` plugin (``pytest_plugins`` in tests/conftest.py, or ``-p tests.upstreams``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.upstreams import (
    DiscordAccount,
    FakeSocialServer,
    GitHubEmail,
    PageError,
    UpstreamIdP,
    query_params,
)

CALLBACK = "http://localhost:5999/cb"
ACCEPT_JSON = {"Accept": "application/json"}  # what Authlib sends to token endpoints


def bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def code_form(code: str, redirect_uri: str, verifier: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier, **extra}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def social(fake_social: FakeSocialServer) -> Iterator[FakeSocialServer]:
    """The shared fake, with a check that nothing inside it crashed during the test."""
    before = len(fake_social.errors)
    yield fake_social
    assert fake_social.errors[before:] == []


def new_app(server: FakeSocialServer, kind: str) -> tuple[str, str, str]:
    client_id, secret = f"{kind}-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    redirect_uri = f"http://localhost:5999/social/{kind}/callback?x=1"  # a query of its own must survive
    server.add_app(kind, client_id, secret, redirect_uri, name=f"IdP ({kind})")
    return client_id, secret, redirect_uri


def authorize_url(
    server: FakeSocialServer, kind: str, client_id: str, redirect_uri: str, scope: str, **extra: str
) -> tuple[str, str, str]:
    """(url, state, code_verifier) for an authorization request with PKCE S256."""
    state, verifier = generate_token(24), generate_token(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{server.authorize_endpoint(kind)}?{urlencode(params)}", state, verifier


# ---- fake GitHub ------------------------------------------------------------------------------


def test_github_code_flow_with_pkce(social: FakeSocialServer, http: requests.Session) -> None:
    client_id, secret, redirect_uri = new_app(social, "github")
    account = social.add_account(
        "github",
        name="Mona Lisa",
        email=None,  # public email hidden, as many people have it
        emails=[
            {"email": "mona@example.com", "primary": True, "verified": True, "visibility": "private"},
            GitHubEmail("old@example.com", primary=False, verified=False, visibility=None),
        ],
    )
    social.sign_in_as("github", account)
    url, state, verifier = authorize_url(social, "github", client_id, redirect_uri, "read:user user:email")

    callback = social.approve(url)
    assert callback.startswith("http://localhost:5999/social/github/callback?")
    params = query_params(callback)
    assert params["x"] == "1" and params["state"] == state and params["code"]

    token_url = social.token_endpoint("github")
    form = code_form(params["code"], redirect_uri, verifier, client_id=client_id, client_secret=secret)
    answer = http.post(token_url, data=form, headers=ACCEPT_JSON)
    assert answer.status_code == 200
    token = answer.json()
    assert token["token_type"] == "bearer" and token["scope"] == "read:user,user:email"
    assert token["access_token"].startswith("gho_")

    user = http.get(f"{social.github_api_url}/user", headers=bearer(token["access_token"])).json()
    assert (user["id"], user["login"], user["name"], user["email"]) == (account.id, account.login, "Mona Lisa", None)
    assert user["html_url"].endswith(f"/github/{account.login}") and "avatar_url" in user
    emails = http.get(f"{social.github_api_url}/user/emails", headers=bearer(token["access_token"], "token"))
    assert emails.status_code == 200
    assert emails.json() == [
        {"email": "mona@example.com", "primary": True, "verified": True, "visibility": "private"},
        {"email": "old@example.com", "primary": False, "verified": False, "visibility": None},
    ]

    # The same code a second time: GitHub's 200 with an error body.
    again = http.post(token_url, data=form, headers=ACCEPT_JSON)
    assert again.status_code == 200 and again.json()["error"] == "bad_verification_code"

    # The fake serves the whole run: pick this test's first exchange, not another test's.
    recorded = [
        r for r in social.requests_to("/github/login/oauth/access_token", "POST") if r.form.get("client_id") == client_id
    ][0]
    assert recorded.form["code_verifier"] == verifier and recorded.headers["Accept"] == "application/json"
    assert social.requests_to("/github/login/oauth/authorize", "GET")[-1].args["code_challenge_method"] == "S256"


def test_github_refuses_a_wrong_verifier_and_bad_credentials(social: FakeSocialServer, http: requests.Session) -> None:
    client_id, secret, redirect_uri = new_app(social, "github")
    social.sign_in_as("github", social.add_account("github"))
    url, _, verifier = authorize_url(social, "github", client_id, redirect_uri, "read:user")
    code = query_params(social.approve(url))["code"]
    token_url = social.token_endpoint("github")

    form = {"code": code, "code_verifier": verifier}
    wrong_secret = http.post(token_url, data=form, auth=(client_id, "nope"), headers=ACCEPT_JSON)
    assert wrong_secret.status_code == 200 and wrong_secret.json()["error"] == "incorrect_client_credentials"
    wrong = http.post(
        token_url, data={**form, "code_verifier": generate_token(48)}, auth=(client_id, secret), headers=ACCEPT_JSON
    )
    assert wrong.status_code == 200
    assert wrong.json()["error"] == "bad_verification_code" and "access_token" not in wrong.json()

    # Without an Accept for JSON, GitHub answers form-encoded (still 200).
    url, _, verifier = authorize_url(social, "github", client_id, redirect_uri, "read:user")
    code = query_params(social.approve(url))["code"]
    plain = http.post(token_url, data={"code": code, "code_verifier": verifier}, auth=(client_id, secret))
    assert plain.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    access_token = query_params("?" + plain.text)["access_token"]
    # read:user only: no email list, and bad tokens are refused.
    no_emails = http.get(f"{social.github_api_url}/user/emails", headers=bearer(access_token))
    assert no_emails.status_code == 404 and no_emails.json()["message"] == "Not Found"
    bad = http.get(f"{social.github_api_url}/user", headers=bearer("gho_wrong"))
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"


def test_github_cancel_and_invalid_requests(social: FakeSocialServer, http: requests.Session) -> None:
    client_id, _, redirect_uri = new_app(social, "github")
    social.sign_in_as("github", social.add_account("github"))
    url, state, _ = authorize_url(social, "github", client_id, redirect_uri, "read:user")

    page = http.get(url, allow_redirects=False)
    assert "Authorize IdP (github) to use your account" in page.text and ">Cancel</button>" in page.text
    denied = query_params(social.approve(url, deny=True))
    assert denied["error"] == "access_denied" and denied["state"] == state
    assert denied["error_uri"].startswith("https://docs.github.com/") and "code" not in denied

    wrong_redirect, _, _ = authorize_url(social, "github", client_id, "http://localhost:5999/elsewhere", "read:user")
    unknown_client, _, _ = authorize_url(social, "github", "nobody", redirect_uri, "read:user")
    plain_pkce, _, _ = authorize_url(social, "github", client_id, redirect_uri, "read:user", code_challenge_method="plain")
    for bad_url in (wrong_redirect, unknown_client, plain_pkce):
        answer = http.get(bad_url, allow_redirects=False)
        assert answer.status_code == 400 and "Location" not in answer.headers


# ---- fake Discord -----------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["unique-username", "legacy-tag"])
def test_discord_code_flow(social: FakeSocialServer, http: requests.Session, legacy: bool) -> None:
    client_id, secret, redirect_uri = new_app(social, "discord")
    if legacy:
        account = social.add_account("discord", username="Wumpus", discriminator="1234", global_name=None)
    else:
        account = social.add_account("discord", username=f"wumpus_{secrets.token_hex(3)}", global_name="Wumpus")
    assert isinstance(account, DiscordAccount)
    social.sign_in_as("discord", account)
    url, state, verifier = authorize_url(social, "discord", client_id, redirect_uri, "identify email")
    params = query_params(social.approve(url))
    assert params["state"] == state

    token_url = social.token_endpoint("discord")
    form = code_form(params["code"], redirect_uri, verifier)
    answer = http.post(token_url, data=form, auth=(client_id, secret))
    assert answer.status_code == 200
    token = answer.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 604800 and token["scope"] == "identify email"
    assert token["refresh_token"]

    me = http.get(f"{social.discord_url}/api/users/@me", headers=bearer(token["access_token"])).json()
    expected = ("Wumpus", "1234", None) if legacy else (account.username, "0", "Wumpus")
    assert (me["username"], me["discriminator"], me["global_name"]) == expected
    assert (me["id"], me["email"], me["verified"], me["avatar"]) == (account.id, account.email, True, account.avatar)

    reused = http.post(token_url, data=form, auth=(client_id, secret))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_discord_scopes_errors_and_cancel(social: FakeSocialServer, http: requests.Session) -> None:
    client_id, secret, redirect_uri = new_app(social, "discord")
    social.sign_in_as("discord", social.add_account("discord", verified=False))
    url, _, verifier = authorize_url(social, "discord", client_id, redirect_uri, "identify")
    code = query_params(social.approve(url))["code"]
    token_url = social.token_endpoint("discord")

    credentials = {"client_id": client_id, "client_secret": secret}  # client_secret_post
    wrong = http.post(token_url, data=code_form(code, redirect_uri, "x" * 43, **credentials))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    url, _, verifier = authorize_url(social, "discord", client_id, redirect_uri, "identify")
    code = query_params(social.approve(url))["code"]
    post = http.post(token_url, data=code_form(code, redirect_uri, verifier, **credentials))
    assert post.status_code == 200
    me = http.get(f"{social.discord_url}/api/users/@me", headers=bearer(post.json()["access_token"])).json()
    assert "email" not in me and "verified" not in me  # identify only
    unauthorized = http.get(f"{social.discord_url}/api/users/@me")
    assert unauthorized.status_code == 401 and unauthorized.json() == {"message": "401: Unauthorized", "code": 0}

    url, state, _ = authorize_url(social, "discord", client_id, redirect_uri, "identify email")
    denied = query_params(social.approve(url, deny=True))
    assert (denied["error"], denied["state"]) == ("access_denied", state) and "error_uri" not in denied


def test_reset_forgets_requests_and_codes(social: FakeSocialServer, http: requests.Session) -> None:
    client_id, secret, redirect_uri = new_app(social, "discord")
    social.sign_in_as("discord", social.add_account("discord"))
    url, _, verifier = authorize_url(social, "discord", client_id, redirect_uri, "identify")
    code = query_params(social.approve(url))["code"]
    social.reset()
    assert social.requests == []
    answer = http.post(social.token_endpoint("discord"), data=code_form(code, redirect_uri, verifier), auth=(client_id, secret))
    assert answer.status_code == 400  # the code went with the reset; the app did not
    assert [r.path for r in social.requests] == ["/discord/api/oauth2/token"]


# ---- the upstream IdP -------------------------------------------------------------------------


def upstream_authorize_url(metadata: dict, client_id: str) -> tuple[str, str, str, str]:
    """(url, state, nonce, verifier) for the upstream's authorization endpoint."""
    state, nonce, verifier = generate_token(24), generate_token(24), generate_token(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile email",
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{metadata['authorization_endpoint']}?{urlencode(params)}", state, nonce, verifier


@pytest.fixture
def upstream(upstream_idp: UpstreamIdP) -> Iterator[UpstreamIdP]:
    """The shared upstream, checked to be alive and free of logged errors after each test."""
    start = upstream_idp.log_size()
    yield upstream_idp
    assert upstream_idp.process.poll() is None, upstream_idp.log_tail()
    assert upstream_idp.error_lines(start) == [], upstream_idp.log_text(start)[-4000:]


@pytest.fixture
def metadata(upstream: UpstreamIdP, http: requests.Session) -> dict:
    answer = http.get(upstream.discovery_url)
    assert answer.status_code == 200
    return answer.json()


def test_upstream_idp_signs_in_and_issues_a_verified_email(upstream: UpstreamIdP, metadata: dict, http: requests.Session) -> None:
    assert upstream.issuer.startswith("http://127.0.0.1:") and metadata["issuer"] == upstream.issuer
    client_id, secret = upstream.register_client([CALLBACK])
    person = upstream.create_person(name="Grace Hopper")
    url, state, nonce, verifier = upstream_authorize_url(metadata, client_id)

    with upstream.browser() as browser:
        callback = browser.authorize(url, person.email, person.password)
        assert callback.startswith(CALLBACK + "?")
        params = query_params(callback)
        assert params["state"] == state and params["iss"] == upstream.issuer

        answer = http.post(
            metadata["token_endpoint"], data=code_form(params["code"], CALLBACK, verifier), auth=(client_id, secret)
        )
        assert answer.status_code == 200, answer.text
        keys = KeySet.import_key_set(http.get(metadata["jwks_uri"]).json())
        claims = jwt.decode(answer.json()["id_token"], keys, algorithms=metadata["id_token_signing_alg_values_supported"]).claims
        assert (claims["iss"], claims["aud"], claims["nonce"]) == (upstream.issuer, client_id, nonce)
        assert (claims["email"], claims["email_verified"], claims["name"]) == (person.email, True, "Grace Hopper")

        # Signed in and consent remembered: no login form, no consent page, straight back.
        posts_before = sum(1 for method, _, _ in browser.history if method == "POST")
        url, state, _, _ = upstream_authorize_url(metadata, client_id)
        again = query_params(browser.authorize(url, person.email, consent=None))
        assert again["state"] == state and again["code"]
        assert sum(1 for method, _, _ in browser.history if method == "POST") == posts_before


def test_upstream_idp_denial_first_party_and_unverified(upstream: UpstreamIdP, metadata: dict) -> None:
    client_id, _ = upstream.register_client([CALLBACK])
    person = upstream.create_person()
    url, state, _, _ = upstream_authorize_url(metadata, client_id)
    with upstream.browser() as browser:
        denied = query_params(browser.authorize(url, person.email, consent=False))
    assert (denied["error"], denied["state"], denied["iss"]) == ("access_denied", state, upstream.issuer)

    first_party, _ = upstream.register_client([CALLBACK], first_party=True)
    url, _, _, _ = upstream_authorize_url(metadata, first_party)
    with upstream.browser() as browser:
        assert "code" in query_params(browser.authorize(url, person.email, consent=None))

    unverified = upstream.create_person(verified=False)
    url, _, _, _ = upstream_authorize_url(metadata, client_id)
    with upstream.browser() as browser, pytest.raises(PageError, match="Confirm your email"):
        browser.authorize(url, unverified.email)
    assert urlsplit(upstream.url).hostname == "127.0.0.1"


# ---- what the IdP's own client code will be: Authlib ------------------------------------------


@pytest.mark.parametrize("kind, scope", [("github", "read:user user:email"), ("discord", "identify email")])
def test_authlib_client_completes_the_flow(social: FakeSocialServer, kind: str, scope: str) -> None:
    """Authlib's defaults (client_secret_basic, Accept: application/json) meet the fakes as they meet the real ones."""
    client_id, secret, redirect_uri = new_app(social, kind)
    social.sign_in_as(kind, social.add_account(kind))
    verifier = generate_token(48)
    with OAuth2Session(client_id, secret, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256") as client:
        client.trust_env = False
        url, _ = client.create_authorization_url(social.authorize_endpoint(kind), code_verifier=verifier)
        callback = social.approve(url)
        token = client.fetch_token(social.token_endpoint(kind), authorization_response=callback, code_verifier=verifier)
        assert token["access_token"]
        with pytest.raises(OAuthError, match="bad_verification_code|invalid_grant"):  # GitHub's 200 error body too
            client.fetch_token(social.token_endpoint(kind), authorization_response=callback, code_verifier=verifier)
        profile = client.get(f"{social.github_api_url}/user" if kind == "github" else f"{social.discord_url}/api/users/@me")
        assert profile.status_code == 200 and profile.json()["id"]


def test_codes_expire_after_ten_minutes_and_bind_the_redirect_uri(
    social: FakeSocialServer, http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, secret, redirect_uri = new_app(social, "discord")
    social.sign_in_as("discord", social.add_account("discord"))
    token_url = social.token_endpoint("discord")
    url, _, verifier = authorize_url(social, "discord", client_id, redirect_uri, "identify")
    code = query_params(social.approve(url))["code"]
    elsewhere = http.post(token_url, data=code_form(code, "http://localhost:5999/other", verifier), auth=(client_id, secret))
    assert elsewhere.status_code == 400 and "redirect_uri" in elsewhere.json()["error_description"]

    url, _, verifier = authorize_url(social, "discord", client_id, redirect_uri, "identify")
    code = query_params(social.approve(url))["code"]
    monkeypatch.setattr(social, "now", lambda: time.time() + 601)  # the fake's clock, not a sleep
    expired = http.post(token_url, data=code_form(code, redirect_uri, verifier), auth=(client_id, secret))
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
