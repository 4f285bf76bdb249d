"""Social sign-in pages that need no upstream: buttons, the start of a journey, refused callbacks, linked accounts.

The journeys through real upstreams (a second IdP, fake GitHub and Discord) are in test_social_sign_in.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.config import social_settings
from app.extensions import db
from app.models import AuditEvent, LinkedIdentity, User
from app.web.messages import message
from app.web.social import MESSAGES
from tests.conftest import AuthActions, audit_types, csrf_from
from tests.integration.auth.helpers import BAD_REQUEST_TEXT, text

# Loopback port 1, where nothing listens: a request that got that far would be refused at once.
NOWHERE = "http://127.0.0.1:1"
PROVIDERS = {
    "github": {"client_id": "gh-client", "client_secret": "gh-secret", "web_url": f"{NOWHERE}/gh", "api_url": f"{NOWHERE}/api"},
    "discord": {"client_id": "dc-client", "client_secret": "dc-secret", "base_url": f"{NOWHERE}/dc"},
}


@pytest.fixture
def app(app_factory) -> Flask:
    app = app_factory(SOCIAL_PROVIDERS=PROVIDERS, ISSUER="http://localhost:5000")
    with app.app_context():
        yield app


def start(client, name: str = "github", next_url: str | None = None):
    page = client.get("/login")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    if next_url is not None:
        data["next"] = next_url
    return client.post(f"/social/{name}/start", data=data)


def query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def flashed_login(client, response) -> str:
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"
    return text(client.get(response.headers["Location"]))


# --- the sign-in page -----------------------------------------------------------------------------


def test_only_configured_providers_get_a_button_with_an_icon_served_here(test_client) -> None:
    page = text(test_client.get("/login"))
    assert "Sign in with GitHub" in page and "Sign in with Discord" in page
    assert "Sign in with Google" not in page
    for icon in ("github", "discord"):
        assert f'src="/static/social/{icon}.svg"' in page
        served = test_client.get(f"/static/social/{icon}.svg")
        served.close()  # a file response: close it, as a server does
        assert served.status_code == 200 and served.mimetype == "image/svg+xml"


def test_buttons_come_in_name_order(app_factory) -> None:
    settings = {
        name: {"client_id": "a", "client_secret": "b", "issuer": "https://op.example"} for name in ("zeta", "alpha", "mid_dle")
    }
    app = app_factory(
        SOCIAL_PROVIDERS=social_settings(
            {f"IDP_SOCIAL_{n.upper()}_{k.upper()}": v for n, s in settings.items() for k, v in s.items()}
        )
    )
    with app.app_context():
        page = text(app.test_client().get("/login"))
        assert page.index("Sign in with Alpha") < page.index("Sign in with Mid Dle") < page.index("Sign in with Zeta")


def test_without_providers_there_is_no_social_section(app_factory) -> None:
    app = app_factory()
    with app.app_context():
        assert 'id="social-sign-in"' not in text(app.test_client().get("/login"))


# --- starting a journey ---------------------------------------------------------------------------


def test_start_sends_the_browser_upstream_with_state_and_pkce(test_client) -> None:
    response = start(test_client, next_url="/account/sessions")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{NOWHERE}/gh/login/oauth/authorize?")
    params = query(location)
    assert params["client_id"] == "gh-client"
    assert params["redirect_uri"] == "http://localhost:5000/social/github/callback"  # from the issuer, not Host
    assert params["response_type"] == "code" and params["scope"] == "read:user user:email"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 20
    assert "gh-secret" not in location


def test_each_start_gets_its_own_state(test_client) -> None:
    first = query(start(test_client).headers["Location"])["state"]
    second = query(start(test_client).headers["Location"])["state"]
    assert first != second


def test_start_needs_the_csrf_token(test_client) -> None:
    response = test_client.post("/social/github/start", data={})
    assert response.status_code == 400 and BAD_REQUEST_TEXT in text(response)


def test_start_is_post_only(test_client) -> None:
    assert test_client.get("/social/github/start").status_code == 405


@pytest.mark.parametrize("name", ["google", "GITHUB", "nope", "github%00"])
def test_unknown_providers_are_not_found(test_client, name: str) -> None:
    assert start(test_client, name).status_code == 404
    assert test_client.get(f"/social/{name}/callback?code=x&state=y").status_code == 404


# --- callbacks that cannot be trusted -------------------------------------------------------------


def test_a_callback_without_a_journey_is_a_state_mismatch(app, test_client) -> None:
    response = test_client.get("/social/github/callback?code=stolen&state=made-up")
    assert MESSAGES["state"].format(provider="GitHub") in flashed_login(test_client, response)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "auth.federated_failed")).one()
    assert event.details == {"provider": "github", "reason": "state"}


def test_a_callback_with_another_state_is_refused_and_the_journey_is_spent(test_client) -> None:
    real = query(start(test_client).headers["Location"])["state"]
    response = test_client.get("/social/github/callback?code=x&state=" + real[::-1])
    assert MESSAGES["state"].format(provider="GitHub") in flashed_login(test_client, response)
    # The real state no longer works either: one journey, one callback.
    again = test_client.get(f"/social/github/callback?code=x&state={real}")
    assert MESSAGES["state"].format(provider="GitHub") in flashed_login(test_client, again)


def test_a_callback_for_another_provider_is_refused(test_client) -> None:
    state = query(start(test_client, "github").headers["Location"])["state"]
    response = test_client.get(f"/social/discord/callback?code=x&state={state}")
    assert MESSAGES["state"].format(provider="Discord") in flashed_login(test_client, response)


def test_a_denial_upstream_comes_back_with_a_clear_message_and_keeps_next(app, test_client) -> None:
    state = query(start(test_client, next_url="/account/sessions").headers["Location"])["state"]
    response = test_client.get(f"/social/github/callback?error=access_denied&error_description=no&state={state}")
    assert query(response.headers["Location"])["next"] == "/account/sessions"
    assert MESSAGES["denied"].format(provider="GitHub") in flashed_login(test_client, response)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "auth.federated_failed")).one()
    assert event.details == {"provider": "github", "reason": "denied", "error": "access_denied"}


def test_an_unreachable_provider_is_a_friendly_message_not_an_error_page(test_client) -> None:
    state = query(start(test_client).headers["Location"])["state"]
    # Nothing answers the token request: the person is told so, and nothing signs in.
    response = test_client.get(f"/social/github/callback?code=x&state={state}")
    assert MESSAGES["upstream"].format(provider="GitHub") in flashed_login(test_client, response)
    assert not test_client.get_cookie("idp_session")


# --- registration closed --------------------------------------------------------------------------


def test_closed_registration_hides_the_link_and_refuses_the_page(app_factory) -> None:
    app = app_factory(REGISTRATION_OPEN=False)
    with app.app_context():
        client = app.test_client()
        login = text(client.get("/login"))
        assert "Create an account" not in login and 'href="/register"' not in login  # page and header alike
        token = csrf_from(client.get("/login").get_data(as_text=True))
        posted = client.post("/register", data={"csrf_token": token, "email": "a@example.com", "password": "x" * 20})
        for response in (client.get("/register"), posted):
            assert response.status_code == 403
            assert message("registration_closed") in text(response)
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


# --- linked accounts page -------------------------------------------------------------------------


@pytest.fixture
def signed_in(create_user, auth: AuthActions):
    user = create_user(email="ada@example.com")
    assert auth.login("ada@example.com").status_code == 303
    return user


def add_link(user, provider: str = "github", subject: str = "42") -> LinkedIdentity:
    row = LinkedIdentity(user_id=user.id, provider=provider, subject=subject, email=user.email, username=f"{provider}-handle")
    db.session.add(row)
    db.session.commit()
    return row


def link_exists(row_id: int) -> bool:
    db.session.rollback()  # read what the requests committed, not this session's memory
    return db.session.get(LinkedIdentity, row_id) is not None


def test_the_linked_accounts_page_needs_a_sign_in(test_client) -> None:
    response = test_client.get("/account/linked")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_linked_accounts_page_lists_links_and_offers_every_provider(test_client, signed_in) -> None:
    add_link(signed_in)
    page = text(test_client.get("/account/linked"))
    assert "github-handle" in page and "Unlink" in page
    assert "Link GitHub" in page and "Link Discord" in page
    assert 'href="/account/linked" aria-current="page"' in page


def test_the_overview_counts_linked_accounts(test_client, signed_in) -> None:
    add_link(signed_in)
    page = text(test_client.get("/account/"))
    assert '<a href="/account/linked">1 linked account</a>' in page


def test_without_providers_or_links_the_overview_says_nothing_of_them(app_factory, create_user) -> None:
    app = app_factory()
    with app.app_context():
        create_user(email="plain@example.com")
        client = app.test_client()
        AuthActions(client).login("plain@example.com")
        page = text(client.get("/account/"))
        assert 'id="account-linked"' not in page and 'href="/account/linked"' not in page


def test_linking_starts_a_journey_with_a_fresh_sign_in(test_client, signed_in) -> None:
    token = csrf_from(test_client.get("/account/linked").get_data(as_text=True))
    response = test_client.post("/account/linked/discord/start", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{NOWHERE}/dc/oauth2/authorize?")
    assert query(response.headers["Location"])["code_challenge_method"] == "S256"


def test_linking_needs_csrf_and_a_known_provider(test_client, signed_in) -> None:
    assert test_client.post("/account/linked/discord/start", data={}).status_code == 400
    token = csrf_from(test_client.get("/account/linked").get_data(as_text=True))
    assert test_client.post("/account/linked/google/start", data={"csrf_token": token}).status_code == 404


def unlink(client, link_id: int):
    token = csrf_from(client.get("/account/linked").get_data(as_text=True))
    return client.post(f"/account/linked/{link_id}/unlink", data={"csrf_token": token})


def test_unlinking_removes_the_link_mails_and_audits(test_client, signed_in, mailbox) -> None:
    row = add_link(signed_in)
    response = unlink(test_client, row.id)
    assert response.status_code == 303
    assert "is unlinked" in text(test_client.get("/account/linked"))
    assert not link_exists(row.id)
    assert audit_types(signed_in)[-1] == "account.identity_unlinked"
    assert mailbox.to("ada@example.com")[-1].subject == "A GitHub account was unlinked from your account"


def test_the_last_way_in_cannot_be_unlinked(test_client, signed_in) -> None:
    row = add_link(signed_in)
    signed_in.password_hash = None
    db.session.commit()
    assert "Unlink" not in text(test_client.get("/account/linked"))  # not offered …
    response = unlink(test_client, row.id)
    assert response.status_code == 409  # … and refused when forced
    assert "This is the only way you can sign in" in text(response)
    assert link_exists(row.id)


def test_someone_elses_link_is_not_found(test_client, signed_in, create_user) -> None:
    row = add_link(create_user(email="other@example.com"))
    assert unlink(test_client, row.id).status_code == 404
    assert unlink(test_client, 999999).status_code == 404
    assert link_exists(row.id)


def test_unlink_needs_csrf(test_client, signed_in) -> None:
    row = add_link(signed_in)
    assert test_client.post(f"/account/linked/{row.id}/unlink", data={}).status_code == 400
    assert link_exists(row.id)


def test_the_link_confirmation_without_a_pending_link_goes_back_to_the_page(test_client, signed_in) -> None:
    response = test_client.get("/social/link")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/linked")
