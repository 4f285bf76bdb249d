"""Social sign-in through real upstreams on loopback: a second IdP as the OIDC provider, fake GitHub and Discord.

The downstream is the Flask test client; its upstream calls (discovery, JWKS, token, userinfo, APIs) go over
real HTTP to tests/upstreams.py's servers. The browser's part at the upstream is played by UpstreamBrowser
(the second IdP's sign-in and consent pages) or FakeSocialServer.approve (the fakes' authorize page).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from app.core.audit import Origin
from app.core.deletion import delete_account
from app.core.protocol import ACR_FEDERATED
from app.extensions import db
from app.models import AuditEvent, LinkedIdentity, User, UserSession
from app.web.social import MESSAGES
from tests.conftest import DEFAULT_PASSWORD, AuthActions, audit_types, csrf_from
from tests.integration.auth.helpers import text
from tests.integration.auth.test_parallel import in_parallel
from tests.integration.mfa.conftest import add_totp
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures used by name)
    Issued,
    RelyingParty,
    _pooled_signing_keys,
    create_oauth_client,
    params_of,
    verify_jwt,
)
from tests.upstreams import DiscordAccount, FakeSocialServer, GitHubAccount, GitHubEmail, UpstreamIdP, query_params

ISSUER = "http://localhost:5000"


def callback_of(name: str) -> str:
    return f"{ISSUER}/social/{name}/callback"


@pytest.fixture(scope="module")
def upstream_client(upstream_idp: UpstreamIdP) -> tuple[str, str]:
    return upstream_idp.register_client([callback_of("upstream"), callback_of("google")], name="Downstream IdP")


@pytest.fixture(scope="module")
def social_apps(fake_social: FakeSocialServer):
    suffix = secrets.token_hex(3)
    github = fake_social.add_app("github", f"gh-{suffix}", f"gh-secret-{suffix}", callback_of("github"))
    discord = fake_social.add_app("discord", f"dc-{suffix}", f"dc-secret-{suffix}", callback_of("discord"))
    return github, discord


@pytest.fixture
def providers(upstream_idp, upstream_client, fake_social, social_apps) -> dict[str, dict[str, str]]:
    github, discord = social_apps
    return {
        "github": {
            "client_id": github.client_id,
            "client_secret": github.client_secret,
            "web_url": fake_social.github_url,
            "api_url": fake_social.github_api_url,
        },
        "discord": {"client_id": discord.client_id, "client_secret": discord.client_secret, "base_url": fake_social.discord_url},
        "upstream": {
            "client_id": upstream_client[0],
            "client_secret": upstream_client[1],
            "issuer": upstream_idp.issuer,
            "display_name": "Upstream IdP",
        },
        # Google's built-in profile, its discovery document pointed at the second IdP.
        "google": {
            "client_id": upstream_client[0],
            "client_secret": upstream_client[1],
            "discovery_url": upstream_idp.discovery_url,
        },
    }


@pytest.fixture
def app(app_factory, providers) -> Flask:
    app = app_factory(SOCIAL_PROVIDERS=providers, ISSUER=ISSUER)
    with app.app_context():
        yield app


# --- driving a journey ----------------------------------------------------------------------------


def begin(client, name: str, next_url: str | None = None, *, reauth: bool = False) -> str:
    """Press the provider's button on the sign-in page; the provider's authorization URL."""
    data = {"csrf_token": csrf_from(client.get("/login?reauth=1").get_data(as_text=True))}
    if next_url:
        data["next"] = next_url
    if reauth:
        data["reauth"] = "1"
    response = client.post(f"/social/{name}/start", data=data)
    assert response.status_code == 303, text(response)
    return response.headers["Location"]


def come_back(client, callback_url: str):
    """The browser following the provider's redirect to our callback."""
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}" == ISSUER, callback_url
    return client.get(f"{parts.path}?{parts.query}")


def github_sign_in(client, fake_social: FakeSocialServer, account: GitHubAccount, *, deny: bool = False, next_url=None):
    fake_social.sign_in_as("github", account)
    return come_back(client, fake_social.approve(begin(client, "github", next_url), deny=deny))


def signed_in_as(client) -> User | None:
    """Who the client's cookie signs in (a full session, not one waiting for MFA)."""
    response = client.get("/account/")
    if response.status_code != 200:
        return None
    db.session.rollback()
    row = db.session.scalars(
        select(UserSession)
        .where(UserSession.revoked_at.is_(None), UserSession.pending.is_(None))
        .order_by(UserSession.created_at.desc())
    ).first()
    return row.user if row else None


def login_message(client, response) -> str:
    assert response.status_code == 303, text(response)
    assert urlsplit(response.headers["Location"]).path == "/login", response.headers["Location"]
    # A browser still signed in goes on from the sign-in page; the message shows wherever it lands.
    return text(client.get(response.headers["Location"], follow_redirects=True))


def links() -> list[tuple[str, str, str]]:
    db.session.rollback()
    return [
        (row.provider, row.user.email, row.username)
        for row in db.session.scalars(select(LinkedIdentity).order_by(LinkedIdentity.id))
    ]


def users() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(User.email).order_by(User.id)))


# --- GitHub ---------------------------------------------------------------------------------------


def test_github_first_sign_in_creates_a_verified_account_with_the_primary_address(test_client, fake_social) -> None:
    account = GitHubAccount.new(
        login="octocat",
        name="The Octocat",
        email=None,  # no public address: the API's verified primary one is used
        emails=[GitHubEmail("old@example.com", verified=True), GitHubEmail("octo@example.com", primary=True, verified=True)],
    )
    response = github_sign_in(test_client, fake_social, account, next_url="/account/sessions")
    assert response.status_code == 303 and response.headers["Location"] == "/account/sessions"
    user = signed_in_as(test_client)
    assert user is not None and user.email == "octo@example.com" and user.is_email_verified
    assert user.password_hash is None and user.display_name == "The Octocat"
    assert links() == [("github", "octo@example.com", "octocat")]
    assert audit_types(user) == ["auth.registered", "account.identity_linked", "auth.login"]
    # PKCE reached GitHub: a challenge on the way out, its verifier at the token endpoint (the fake checks them).
    token_request = fake_social.requests_to("/github/login/oauth/access_token", "POST")[-1]
    assert token_request.form["code_verifier"] and "client_secret" in token_request.form


def test_a_second_github_sign_in_finds_the_same_account_by_id_even_after_a_rename(test_client, app, fake_social) -> None:
    account = GitHubAccount.new(login="before")
    github_sign_in(test_client, fake_social, account)
    first = signed_in_as(test_client)
    account.login = "after"
    other = app.test_client()
    github_sign_in(other, fake_social, account)
    assert signed_in_as(other).id == first.id
    assert links() == [("github", first.email, "after")]


def test_github_with_an_unverified_primary_address_makes_no_account(test_client, fake_social) -> None:
    account = GitHubAccount.new(emails=[GitHubEmail("claimed@example.com", primary=True, verified=False, visibility="public")])
    response = github_sign_in(test_client, fake_social, account)
    assert MESSAGES["unverified_email"].format(provider="GitHub") in login_message(test_client, response)
    assert users() == [] and links() == []


def test_github_denial_comes_back_to_the_sign_in_page(test_client, fake_social) -> None:
    response = github_sign_in(test_client, fake_social, GitHubAccount.new(), deny=True)
    assert MESSAGES["denied"].format(provider="GitHub") in login_message(test_client, response)
    assert users() == []


def test_a_callback_replayed_in_another_browser_is_a_state_mismatch(app, test_client, fake_social) -> None:
    """Login CSRF: a code and state sent to someone else's browser must not sign that browser in."""
    fake_social.sign_in_as("github", GitHubAccount.new())
    callback = fake_social.approve(begin(test_client, "github"))
    victim = app.test_client()
    victim.get("/login")
    response = come_back(victim, callback)
    assert MESSAGES["state"].format(provider="GitHub") in login_message(victim, response)
    assert users() == []


def test_a_callback_used_twice_works_once(test_client, fake_social) -> None:
    fake_social.sign_in_as("github", GitHubAccount.new())
    callback = fake_social.approve(begin(test_client, "github"))
    assert come_back(test_client, callback).status_code == 303
    again = come_back(test_client, callback)
    assert MESSAGES["state"].format(provider="GitHub") in login_message(test_client, again)
    assert len(users()) == 1


def test_a_wrong_code_is_refused_by_the_provider_and_nothing_signs_in(test_client, fake_social) -> None:
    fake_social.sign_in_as("github", GitHubAccount.new())
    callback = fake_social.approve(begin(test_client, "github"))
    params = query_params(callback)
    response = test_client.get(f"/social/github/callback?code=not-{params['code']}&state={params['state']}")
    assert MESSAGES["upstream"].format(provider="GitHub") in login_message(test_client, response)
    assert users() == []


# --- Discord --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "handle"),
    [
        (lambda: DiscordAccount.new(username="nelly", global_name="Nelly"), "nelly"),
        (lambda: DiscordAccount.legacy(username="Nelly", discriminator="1337", global_name=None), "Nelly#1337"),
    ],
    ids=["unique-username", "legacy-tag"],
)
def test_discord_sign_in_reads_both_username_formats(test_client, fake_social, make: Callable, handle: str) -> None:
    account = make()
    fake_social.sign_in_as("discord", account)
    response = come_back(test_client, fake_social.approve(begin(test_client, "discord")))
    assert response.status_code == 303
    user = signed_in_as(test_client)
    assert user.email == account.email and user.display_name == (account.global_name or account.username)
    assert links() == [("discord", account.email, handle)]


def test_discord_unverified_address_makes_no_account(test_client, fake_social) -> None:
    fake_social.sign_in_as("discord", DiscordAccount.new(verified=False))
    response = come_back(test_client, fake_social.approve(begin(test_client, "discord")))
    assert MESSAGES["unverified_email"].format(provider="Discord") in login_message(test_client, response)
    assert users() == []


# --- a second instance of this IdP as the OpenID Connect provider ---------------------------------


def test_oidc_sign_in_through_the_second_idp_validates_the_id_token(test_client, upstream_idp) -> None:
    person = upstream_idp.create_person(name="Grace Hopper")
    url = begin(test_client, "upstream")
    params = query_params(url)
    assert url.startswith(f"{upstream_idp.url}/oauth/authorize?")
    assert params["nonce"] and params["code_challenge_method"] == "S256" and "openid" in params["scope"].split()
    with upstream_idp.browser() as browser:
        callback = browser.authorize(url, person.email, person.password)
    assert query_params(callback)["iss"] == upstream_idp.issuer  # RFC 9207, checked on the way in
    response = come_back(test_client, callback)
    assert response.status_code == 303, text(response)
    user = signed_in_as(test_client)
    assert user.email == person.email and user.display_name == "Grace Hopper"
    assert [(p, e) for p, e, _ in links()] == [("upstream", person.email)]


def test_google_profile_signs_in_through_its_discovery_document(test_client, upstream_idp) -> None:
    assert "Sign in with Google" in text(test_client.get("/login"))
    person = upstream_idp.create_person(name="Google Person")
    with upstream_idp.browser() as browser:
        callback = browser.authorize(begin(test_client, "google"), person.email, person.password)
    assert come_back(test_client, callback).status_code == 303
    assert signed_in_as(test_client).email == person.email
    assert [(p, e) for p, e, _ in links()] == [("google", person.email)]


def test_a_fresh_sign_in_makes_the_oidc_provider_ask_again(test_client, upstream_idp) -> None:
    """A re-authentication here (prompt=login from an app, or a sensitive change) is one upstream too."""
    person = upstream_idp.create_person()
    with upstream_idp.browser() as browser:
        come_back(test_client, browser.authorize(begin(test_client, "upstream"), person.email, person.password))
        url = begin(test_client, "upstream", "/account/sessions", reauth=True)
        assert query_params(url)["prompt"] == "login"
        before = len(browser.history)
        callback = browser.authorize(url, person.email, person.password)
        # Signed in at the upstream already, and still its sign-in form was filled in again.
        assert any(method == "POST" and url.endswith("/login") for method, url, _ in browser.history[before:])
    response = come_back(test_client, callback)
    assert response.headers["Location"] == "/account/sessions"


def test_a_re_authentication_the_provider_answered_from_an_older_sign_in_is_refused(test_client, upstream_idp) -> None:
    person = upstream_idp.create_person()
    with upstream_idp.browser() as browser:
        callback = browser.authorize(begin(test_client, "upstream", reauth=True), person.email, person.password)
    with test_client.session_transaction() as browser_state:  # as if the upstream's sign-in predated the journey
        journey = dict(browser_state["social_journey"])
        journey["started"] += 3600
        browser_state["social_journey"] = journey
    response = come_back(test_client, callback)
    assert MESSAGES["not_fresh"].format(provider="Upstream IdP") in login_message(test_client, response)
    assert users() == []


def test_github_has_no_prompt_to_send(test_client, fake_social) -> None:
    assert "prompt" not in query_params(begin(test_client, "github", reauth=True))


def test_oidc_denied_consent_comes_back_with_a_message(test_client, upstream_idp) -> None:
    person = upstream_idp.create_person()
    with upstream_idp.browser() as browser:
        callback = browser.authorize(begin(test_client, "upstream"), person.email, person.password, consent=False)
    response = come_back(test_client, callback)
    assert MESSAGES["denied"].format(provider="Upstream IdP") in login_message(test_client, response)
    assert users() == []


def test_oidc_unverified_upstream_address_makes_no_account(test_client, upstream_idp) -> None:
    person = upstream_idp.create_person()
    with upstream_idp.browser() as browser:
        callback = browser.authorize(begin(test_client, "upstream"), person.email, person.password)
    upstream_idp.set_email_verified(person.email, False)  # claims are read when the code is redeemed
    response = come_back(test_client, callback)
    assert MESSAGES["unverified_email"].format(provider="Upstream IdP") in login_message(test_client, response)
    assert users() == []


def test_oidc_response_from_another_issuer_is_refused(test_client, upstream_idp) -> None:
    """RFC 9207 mix-up defence: an `iss` that isn't this provider's is refused before any code exchange."""
    person = upstream_idp.create_person()
    with upstream_idp.browser() as browser:
        callback = browser.authorize(begin(test_client, "upstream"), person.email, person.password)
    forged = callback.replace("iss=http%3A%2F%2F127.0.0.1", "iss=http%3A%2F%2Fevil.example")
    assert forged != callback
    response = come_back(test_client, forged)
    assert MESSAGES["upstream"].format(provider="Upstream IdP") in login_message(test_client, response)
    assert users() == []


def test_a_discovery_document_naming_another_issuer_is_refused(app_factory, providers, upstream_idp) -> None:
    providers = {**providers, "upstream": {**providers["upstream"], "issuer": upstream_idp.issuer + "/tenant"}}
    providers["upstream"]["discovery_url"] = upstream_idp.discovery_url
    app = app_factory(SOCIAL_PROVIDERS=providers, ISSUER=ISSUER)
    with app.app_context():
        client = app.test_client()
        data = {"csrf_token": csrf_from(client.get("/login").get_data(as_text=True))}
        response = client.post("/social/upstream/start", data=data)
        assert MESSAGES["upstream"].format(provider="Upstream IdP") in login_message(client, response)


# --- collisions: sign in first, then link ---------------------------------------------------------


def test_an_existing_address_is_linked_only_after_signing_in_with_password_and_mfa(
    app, test_client, fake_social, create_user
) -> None:
    owner = create_user(email="ada@example.com")
    totp = add_totp(app, owner)
    account = GitHubAccount.new(login="ada-gh", emails=[GitHubEmail("Ada@Example.com", primary=True)])

    response = github_sign_in(test_client, fake_social, account)
    page = login_message(test_client, response)
    assert MESSAGES["collision"].format(provider="GitHub", email="Ada@Example.com") in page
    assert signed_in_as(test_client) is None and links() == []
    assert query_params(response.headers["Location"])["next"] == "/social/link"

    # Password, then the second factor: only then is the link offered.
    signed = AuthActions(test_client).login("ada@example.com", next_url="/social/link")
    assert signed.headers["Location"].endswith("/mfa/challenge")
    challenge = test_client.get("/mfa/challenge")
    passed = test_client.post(
        "/mfa/challenge/totp", data={"csrf_token": csrf_from(challenge.get_data(as_text=True)), "totp_code": totp.now()}
    )
    assert passed.headers["Location"] == "/social/link"
    confirm = test_client.get("/social/link")
    assert confirm.status_code == 200 and "ada-gh" in text(confirm) and "ada@example.com" in text(confirm)
    linked = test_client.post("/social/link", data={"csrf_token": csrf_from(confirm.get_data(as_text=True)), "decision": "link"})
    assert linked.headers["Location"] == "/account/linked"
    assert links() == [("github", "ada@example.com", "ada-gh")]
    assert {"auth.federated_collision", "account.identity_linked"} <= set(audit_types(owner))

    # From now on GitHub signs Ada in, and still asks for her second factor.
    other = app.test_client()
    again = github_sign_in(other, fake_social, account)
    assert again.headers["Location"].endswith("/mfa/challenge")
    assert signed_in_as(other) is None
    challenge = other.get("/mfa/challenge")
    assert challenge.status_code == 200
    next_code = totp.at(time.time() + totp.interval)  # this step's code was spent above; ±1 step is accepted
    passed = other.post(
        "/mfa/challenge/totp", data={"csrf_token": csrf_from(challenge.get_data(as_text=True)), "totp_code": next_code}
    )
    assert passed.status_code == 303
    db.session.rollback()
    latest = db.session.scalars(select(UserSession).order_by(UserSession.created_at.desc())).first()
    assert latest.pending is None and latest.amr == ["fed", "otp", "mfa"]


def test_a_pending_link_is_not_offered_to_a_session_from_before_the_upstream_proof(
    app, test_client, fake_social, create_user
) -> None:
    create_user(email="ada@example.com")
    assert AuthActions(test_client).login("ada@example.com").status_code == 303  # signed in first …
    account = GitHubAccount.new(emails=[GitHubEmail("ada@example.com", primary=True)])
    github_sign_in(test_client, fake_social, account)  # … then the collision, with no new sign-in
    response = test_client.get("/social/link")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/linked")
    assert links() == []


def test_declining_the_link_links_nothing(app, test_client, fake_social, create_user) -> None:
    create_user(email="ada@example.com")
    github_sign_in(test_client, fake_social, GitHubAccount.new(emails=[GitHubEmail("ada@example.com", primary=True)]))
    AuthActions(test_client).login("ada@example.com", next_url="/social/link")
    confirm = test_client.get("/social/link")
    test_client.post("/social/link", data={"csrf_token": csrf_from(confirm.get_data(as_text=True)), "decision": "cancel"})
    assert links() == []
    assert test_client.get("/social/link").status_code == 302  # the pending link is gone


# --- MFA, disabled accounts -----------------------------------------------------------------------


def test_a_linked_account_with_a_factor_gets_the_challenge_and_nothing_else(app, test_client, fake_social, create_user) -> None:
    owner = create_user(email="grace@example.com")
    add_totp(app, owner)
    account = GitHubAccount.new()
    db.session.add(LinkedIdentity(user_id=owner.id, provider="github", subject=str(account.id), email=owner.email))
    db.session.commit()
    response = github_sign_in(test_client, fake_social, account)
    assert response.headers["Location"].endswith("/mfa/challenge")
    assert test_client.get("/account/").status_code == 302  # pending: not signed in anywhere else
    assert test_client.get("/oauth/userinfo").status_code == 401
    assert "auth.federated_verified" in audit_types(owner)


def test_a_disabled_account_cannot_sign_in_through_its_link(test_client, fake_social, create_user) -> None:
    owner = create_user(email="off@example.com", is_disabled=True)
    account = GitHubAccount.new()
    db.session.add(LinkedIdentity(user_id=owner.id, provider="github", subject=str(account.id), email=owner.email))
    db.session.commit()
    response = github_sign_in(test_client, fake_social, account)
    assert MESSAGES["disabled"].format(provider="GitHub") in login_message(test_client, response)
    assert signed_in_as(test_client) is None


# --- linking from the account page ----------------------------------------------------------------


def link_from_account(client, name: str) -> str:
    page = client.get("/account/linked")
    response = client.post(f"/account/linked/{name}/start", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 303, response.headers.get("Location")
    return response.headers["Location"]


def test_link_then_unlink_from_the_account_page(app, test_client, fake_social, mailbox) -> None:
    github_account = GitHubAccount.new(login="gh-person")
    github_sign_in(test_client, fake_social, github_account)  # a new account with no password
    user = signed_in_as(test_client)
    assert "Unlink" not in text(test_client.get("/account/linked"))  # GitHub is the only way in

    discord_account = DiscordAccount.new(username="dc-person")
    fake_social.sign_in_as("discord", discord_account)
    response = come_back(test_client, fake_social.approve(link_from_account(test_client, "discord")))
    assert response.headers["Location"] == "/account/linked"
    assert [(p, h) for p, _, h in links()] == [("github", "gh-person"), ("discord", "dc-person")]
    assert mailbox.to(user.email)[-1].subject == "A Discord account was linked to your account"

    page = test_client.get("/account/linked")
    github_link = db.session.scalars(select(LinkedIdentity).where(LinkedIdentity.provider == "github")).one()
    test_client.post(f"/account/linked/{github_link.id}/unlink", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert [(p, h) for p, _, h in links()] == [("discord", "dc-person")]
    assert "Unlink" not in text(test_client.get("/account/linked"))  # Discord is now the last way in


def test_an_upstream_account_linked_to_someone_else_cannot_be_linked(app, test_client, fake_social, create_user) -> None:
    owner = create_user(email="owner@example.com")
    account = DiscordAccount.new()
    db.session.add(LinkedIdentity(user_id=owner.id, provider="discord", subject=account.id, email=owner.email))
    db.session.commit()
    create_user(email="me@example.com")
    AuthActions(test_client).login("me@example.com")
    fake_social.sign_in_as("discord", account)
    response = come_back(test_client, fake_social.approve(link_from_account(test_client, "discord")))
    assert response.headers["Location"] == "/account/linked"
    assert MESSAGES["linked_elsewhere"].format(provider="Discord") in text(test_client.get("/account/linked"))
    assert links() == [("discord", "owner@example.com", "")]


def test_a_link_journey_finished_in_another_session_links_nothing(app, test_client, fake_social, create_user) -> None:
    create_user(email="me@example.com")
    auth = AuthActions(test_client)
    auth.login("me@example.com")
    fake_social.sign_in_as("discord", DiscordAccount.new())
    url = link_from_account(test_client, "discord")
    callback = fake_social.approve(url)
    page = test_client.get("/login?reauth=1")  # a new sign-in in between clears the journey
    again = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "me@example.com", "password": DEFAULT_PASSWORD}
    assert test_client.post("/login", data=again).status_code == 303
    response = come_back(test_client, callback)
    assert response.status_code == 303
    assert links() == []


def test_a_federated_sign_in_is_fresh_enough_to_set_a_first_password(app, test_client, fake_social) -> None:
    github_sign_in(test_client, fake_social, GitHubAccount.new())
    page = test_client.get("/account/password")
    assert page.status_code == 200 and "Set a password" in text(page) and "Current password" not in text(page)
    response = test_client.post(
        "/account/password",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "new_password": "quiet lantern orbit meadow"},
    )
    assert response.status_code == 303
    db.session.rollback()
    assert signed_in_as(test_client).password_hash
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "account.password_changed")).one()
    assert event.subject_user_id is not None


# --- parallel first sign-ins ----------------------------------------------------------------------


@pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (set IDP_TEST_DATABASE_URL)",
)
def test_parallel_first_sign_ins_of_one_upstream_account_make_one_account(app, fake_social) -> None:
    """Two tabs finishing a first GitHub sign-in at once: both are signed in, to one account with one link."""
    account = GitHubAccount.new()
    fake_social.sign_in_as("github", account)
    clients = [app.test_client() for _ in range(4)]
    callbacks = [fake_social.approve(begin(client, "github")) for client in clients]
    statuses = in_parallel(clients, lambda i, client: come_back(client, callbacks[i]).status_code)
    assert statuses == [303] * len(clients)
    assert len(users()) == 1 and len(links()) == 1
    assert all(signed_in_as(client) is not None for client in clients)


def test_a_deleted_account_frees_its_upstream_account(app, test_client, fake_social) -> None:
    account = GitHubAccount.new()
    github_sign_in(test_client, fake_social, account)
    first = signed_in_as(test_client)
    delete_account(first, origin=Origin())
    db.session.commit()
    assert links() == [] and users() == []
    other = app.test_client()
    github_sign_in(other, fake_social, account)  # a new account, never the deleted one's id
    assert signed_in_as(other).id != first.id


# --- an app's sign-in through a provider ----------------------------------------------------------


def test_an_app_s_sign_in_completed_through_github_says_fed_in_its_id_token(
    app, test_client, fake_social, create_oauth_client
) -> None:
    """The authorization request's sign-in step, done with GitHub: back at the app, amr fed and acr fed."""
    client, secret = create_oauth_client(name="Photo Printer", is_first_party=True)
    party = RelyingParty(app, test_client, AuthActions(test_client))
    pending = party.request(client)
    to_login = party.authorize(pending)
    next_url = query_params(to_login.headers["Location"])["next"]
    assert next_url.startswith("/oauth/authorize?")

    back = github_sign_in(test_client, fake_social, GitHubAccount.new(), next_url=next_url)
    assert back.headers["Location"] == next_url
    answered = test_client.get(next_url)
    code = params_of(answered)["code"]

    tokens = party.redeem(client, secret, Issued(code, pending.verifier, client.redirect_uris[0])).get_json()
    claims = verify_jwt(test_client, tokens["id_token"], ["RS256"]).claims
    assert claims["amr"] == ["fed"] and claims["acr"] == ACR_FEDERATED
    assert claims["email"] == signed_in_as(test_client).email


@pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (set IDP_TEST_DATABASE_URL)",
)
def test_a_double_click_on_link_account_links_once(app, test_client, fake_social, create_user) -> None:
    create_user(email="ada@example.com")
    github_sign_in(test_client, fake_social, GitHubAccount.new(emails=[GitHubEmail("ada@example.com", primary=True)]))
    AuthActions(test_client).login("ada@example.com", next_url="/social/link")
    token = csrf_from(test_client.get("/social/link").get_data(as_text=True))
    clicks = [app.test_client() for _ in range(3)]
    for click in clicks:  # the same browser: its cookies, sent by each of the parallel requests
        for name in ("idp_session", "idp_state"):
            click.set_cookie(name, test_client.get_cookie(name).value, domain="localhost")
    statuses = in_parallel(
        clicks, lambda i, click: click.post("/social/link", data={"csrf_token": token, "decision": "link"}).status_code
    )
    assert statuses == [303] * len(clicks)
    assert [(p, e) for p, e, _ in links()] == [("github", "ada@example.com")]
