"""RP-Initiated Logout 1.0: a hint tied to this session signs out and may redirect; anything else asks first."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from app.core.keys import keyring
from app.extensions import db
from app.models import AuditEvent, RefreshToken, UserSession
from tests.conftest import DEFAULT_PASSWORD, AuthActions, csrf_from
from tests.integration.auth.helpers import auth_cookie, client_with_cookie, is_signed_in, sessions_of
from tests.integration.oauth.conftest import RelyingParty

LOGOUT_URI = "https://rp.example/signed-out"
EMAIL = "ada@example.com"
CONFIRM_FORM = 'action="/oauth/logout/confirm"'
HIDDEN_FIELD = re.compile(r'<input id="\w+" name="(\w+)" type="hidden" value="([^"]*)"')


@pytest.fixture
def user(create_user):
    return create_user(email=EMAIL)


@pytest.fixture
def rp_client(create_oauth_client):
    return create_oauth_client(name="Notes App", post_logout_redirect_uris=[LOGOUT_URI, "https://rp.example/bye?lang=en"])


@pytest.fixture
def signed_in(rp, rp_client, user) -> dict:
    """A browser signed in through the code flow: the token response of that sign-in."""
    client, secret = rp_client
    return rp.tokens(client, secret, user)


def logout(http, method: str = "GET", **params):
    if method == "POST":
        return http.post("/oauth/logout", data=params)
    return http.get("/oauth/logout", query_string=params)


def is_confirmation(response) -> bool:
    return response.status_code == 200 and CONFIRM_FORM in response.get_data(as_text=True)


def is_logged_out_page(response) -> bool:
    return response.status_code == 200 and 'id="logged-out"' in response.get_data(as_text=True)


def confirm(http, page, *, with_csrf: bool = True):
    """Submit the confirmation page's form as a browser would (hidden fields as rendered)."""
    fields = {name: html.unescape(value) for name, value in HIDDEN_FIELD.findall(page.get_data(as_text=True))}
    if not with_csrf:
        fields.pop("csrf_token")
    return http.post("/oauth/logout/confirm", data=fields)


def refresh_fails(rp, rp_client, refresh_token: str) -> bool:
    client, secret = rp_client
    response = rp.refresh(client, secret, refresh_token)
    return response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def event_types() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.event_type).order_by(AuditEvent.id)))


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- a valid hint for this very session ---


@pytest.mark.parametrize(("method", "status"), [("GET", 302), ("POST", 303)])
def test_a_valid_hint_signs_out_this_session_and_redirects_with_state(app, rp, rp_client, user, signed_in, method, status):
    old_cookie = auth_cookie(rp.http)

    response = logout(rp.http, method, id_token_hint=signed_in["id_token"], post_logout_redirect_uri=LOGOUT_URI, state="s t&8")

    assert response.status_code == status
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LOGOUT_URI
    assert parse_qs(location.query) == {"state": ["s t&8"]}
    assert not is_signed_in(rp.http)
    assert not is_signed_in(client_with_cookie(app, old_cookie))  # the old cookie is dead server-side
    assert all(s.revoked_at is not None for s in sessions_of(user))
    assert refresh_fails(rp, rp_client, signed_in["refresh_token"])
    assert rp.userinfo(signed_in["access_token"]).status_code == 401
    assert {"auth.logout", "oauth.rp_logout"} <= set(event_types())


def test_state_is_added_to_a_registered_uri_that_has_a_query(rp, signed_in):
    response = logout(
        rp.http, id_token_hint=signed_in["id_token"], post_logout_redirect_uri="https://rp.example/bye?lang=en", state="x"
    )

    assert response.headers["Location"] == "https://rp.example/bye?lang=en&state=x"


def test_without_a_post_logout_uri_the_session_ends_on_our_own_page(rp, user, signed_in):
    response = logout(rp.http, id_token_hint=signed_in["id_token"], state="x")

    assert is_logged_out_page(response) and "Location" not in response.headers
    assert "Notes App" in response.get_data(as_text=True)
    assert not is_signed_in(rp.http)


def test_client_id_matching_the_hint_is_accepted(rp, rp_client, signed_in):
    client, _ = rp_client

    response = logout(
        rp.http, id_token_hint=signed_in["id_token"], client_id=client.client_id, post_logout_redirect_uri=LOGOUT_URI
    )

    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI


def test_an_expired_hint_is_still_accepted(app, rp, rp_client, user):
    app.config["ID_TOKEN_TTL"] = -3600  # the ID token is issued already an hour past its exp
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user)
    assert _claims(tokens["id_token"])["exp"] < time.time()

    response = logout(rp.http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=LOGOUT_URI, state="e")

    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI + "?state=e"
    assert not is_signed_in(rp.http)


def _kid(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_only_the_ended_sessions_refresh_tokens_are_revoked(app, rp, rp_client, user, signed_in):
    client, secret = rp_client
    http = app.test_client()
    other_browser = RelyingParty(app, http, AuthActions(http))
    other_tokens = other_browser.tokens(client, secret, user)

    logout(rp.http, id_token_hint=signed_in["id_token"])

    assert refresh_fails(rp, rp_client, signed_in["refresh_token"])
    assert other_browser.refresh(client, secret, other_tokens["refresh_token"]).status_code == 200
    assert is_signed_in(other_browser.http)
    db.session.expire_all()
    revoked = db.session.scalars(select(RefreshToken.session_id).where(RefreshToken.revoked_at.is_not(None))).all()
    assert set(revoked) == {sessions_of(user)[0].id}


# --- no redirect to anything unvalidated ---


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/",
        LOGOUT_URI + "/",
        LOGOUT_URI.upper(),
        LOGOUT_URI + "?x=1",
        LOGOUT_URI + "#frag",
        "https://rp.example/cb",  # the client's redirect_uri, but not a post-logout one
        "javascript:alert(1)",
    ],
)
def test_an_unregistered_post_logout_uri_is_never_followed(rp, signed_in, uri):
    response = logout(rp.http, id_token_hint=signed_in["id_token"], post_logout_redirect_uri=uri, state="x")

    assert is_logged_out_page(response) and "Location" not in response.headers
    assert uri not in response.get_data(as_text=True)
    assert not is_signed_in(rp.http)  # the hint was valid for this session: signing out was right


def test_a_hint_with_another_clients_client_id_proves_nothing(rp, create_oauth_client, signed_in):
    other, _ = create_oauth_client(name="Other App", post_logout_redirect_uris=["https://other.example/out"])

    for uri in (LOGOUT_URI, "https://other.example/out"):
        response = logout(rp.http, id_token_hint=signed_in["id_token"], client_id=other.client_id, post_logout_redirect_uri=uri)
        assert is_confirmation(response) and "Location" not in response.headers
        assert "Notes App" not in response.get_data(as_text=True) and "Other App" not in response.get_data(as_text=True)

    assert is_signed_in(rp.http)


def test_a_client_id_without_a_hint_does_not_unlock_the_redirect(rp, rp_client, signed_in):
    client, _ = rp_client
    page = logout(rp.http, client_id=client.client_id, post_logout_redirect_uri=LOGOUT_URI, state="x")
    assert is_confirmation(page)

    response = confirm(rp.http, page)

    assert is_logged_out_page(response) and "Location" not in response.headers
    assert not is_signed_in(rp.http)


def test_a_disabled_client_gets_no_redirect(rp, rp_client, signed_in):
    client, _ = rp_client
    client.is_disabled = True
    db.session.commit()
    from app.core.client_cache import client_cache

    client_cache().invalidate(client.client_id)

    response = logout(rp.http, id_token_hint=signed_in["id_token"], post_logout_redirect_uri=LOGOUT_URI)

    assert is_logged_out_page(response) and "Location" not in response.headers


# --- requests not tied to this session: confirm first ---


def test_no_hint_asks_first_and_confirming_signs_out(rp, rp_client, user, signed_in):
    page = logout(rp.http)

    assert is_confirmation(page)
    assert is_signed_in(rp.http)

    response = confirm(rp.http, page)

    assert is_logged_out_page(response)
    assert not is_signed_in(rp.http)
    assert refresh_fails(rp, rp_client, signed_in["refresh_token"])
    [rp_logout] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "oauth.rp_logout")).all()
    assert rp_logout.details["confirmed"] is True and rp_logout.details["client_id"] is None


def test_confirming_without_the_csrf_token_is_400_and_still_signed_in(rp, user, signed_in):
    page = logout(rp.http)

    response = confirm(rp.http, page, with_csrf=False)

    assert response.status_code == 400
    assert is_signed_in(rp.http)
    assert all(s.revoked_at is None for s in sessions_of(user))
    assert "oauth.rp_logout" not in event_types()


def test_confirming_with_another_browsers_csrf_token_is_400(app, rp, signed_in):
    page = logout(rp.http)
    foreign = csrf_from(app.test_client().get("/login").get_data(as_text=True))

    response = rp.http.post("/oauth/logout/confirm", data={"csrf_token": foreign})

    assert response.status_code == 400 and is_confirmation(page)
    assert is_signed_in(rp.http)


def test_the_confirmation_page_cannot_be_skipped_by_get(rp, signed_in):
    assert rp.http.get("/oauth/logout/confirm").status_code == 405
    assert is_signed_in(rp.http)


def test_a_confirmed_request_with_a_valid_hint_goes_back_to_the_app(app, rp, rp_client, user, signed_in):
    # The hint is valid but this browser now holds a different session (signed in again since).
    token = csrf_from(rp.http.get("/login?reauth=1").get_data(as_text=True))
    again = rp.http.post("/login", data={"csrf_token": token, "email": EMAIL, "password": DEFAULT_PASSWORD})
    assert again.status_code == 303
    page = logout(rp.http, id_token_hint=signed_in["id_token"], post_logout_redirect_uri=LOGOUT_URI, state="z")
    assert is_confirmation(page) and "Notes App" in page.get_data(as_text=True)

    response = confirm(rp.http, page)

    assert response.status_code == 303 and response.headers["Location"] == LOGOUT_URI + "?state=z"
    assert not is_signed_in(rp.http)


def test_a_hint_from_another_browsers_session_asks_and_leaves_that_session_alone(app, rp, rp_client, user, signed_in):
    other = app.test_client()
    AuthActions(other).login(EMAIL)

    page = logout(other, id_token_hint=signed_in["id_token"], post_logout_redirect_uri=LOGOUT_URI)

    assert is_confirmation(page)
    assert is_signed_in(other) and is_signed_in(rp.http)


def _hs256_with_public_key(claims: dict, kid: str) -> str:
    """The classic confusion: our RSA public key (PEM) used as an HMAC secret."""
    pem = keyring().verifying_key(kid).key.as_pem(private=False)
    signing_input = _b64({"alg": "HS256", "kid": kid, "typ": "JWT"}) + "." + _b64(claims)
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _garbage_hint(signed_in: dict, name: str) -> str:
    real = signed_in["id_token"]
    header, payload, signature = real.split(".")
    claims = _claims(real)
    kid = _kid(real)
    if name == "alg none":
        return _b64({"alg": "none", "kid": kid, "typ": "JWT"}) + "." + payload + "."
    if name == "tampered payload":
        return header + "." + _b64({**claims, "sub": "999"}) + "." + signature
    if name == "foreign key, our kid":
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, RSAKey.generate_key(2048))
    if name == "HS256 with our public key":
        return _hs256_with_public_key(claims, kid)
    return {
        "garbage": "not-a-token",
        "three dots": "a.b.c",
        "access token": signed_in["access_token"],
        "oversized": real + "x" * 5000,
    }[name]


@pytest.mark.parametrize(
    "name",
    [
        "garbage",
        "three dots",
        "alg none",
        "tampered payload",
        "foreign key, our kid",
        "HS256 with our public key",
        "access token",
        "oversized",
    ],
)
def test_a_forged_or_garbage_hint_gets_the_confirmation_page(rp, signed_in, name):
    hint = _garbage_hint(signed_in, name)

    response = logout(rp.http, id_token_hint=hint, post_logout_redirect_uri=LOGOUT_URI, state="x")

    assert is_confirmation(response) and "Location" not in response.headers
    assert is_signed_in(rp.http)


def test_a_foreign_issuer_is_refused_even_with_our_signature(app, rp, signed_in):
    claims = _claims(signed_in["id_token"])
    signing = keyring().signing_key("RS256")
    header = {"alg": "RS256", "kid": signing.kid, "typ": "JWT"}
    forged = jwt.encode(header, {**claims, "iss": "https://evil.example"}, signing.key)

    response = logout(rp.http, id_token_hint=forged, post_logout_redirect_uri=LOGOUT_URI)

    assert is_confirmation(response)


# --- nobody signed in in this browser ---


def test_signed_out_browser_with_a_valid_hint_goes_straight_back(rp, signed_in):
    assert rp.auth.logout().status_code == 303  # the plain sign-out page ended the session already

    response = logout(rp.http, id_token_hint=signed_in["id_token"], post_logout_redirect_uri=LOGOUT_URI, state="q")

    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI + "?state=q"


def test_signed_out_browser_without_a_hint_just_sees_the_signed_out_page(test_client):
    response = logout(test_client, post_logout_redirect_uri=LOGOUT_URI)

    assert is_logged_out_page(response) and "Location" not in response.headers


def test_a_cookieless_post_for_a_live_session_asks_instead_of_pretending(app, rp, user, signed_in):
    # A cross-site POST carries no SameSite=Lax cookie: this request looks anonymous though the person is signed in.
    cookieless = app.test_client()

    response = logout(cookieless, "POST", id_token_hint=signed_in["id_token"], post_logout_redirect_uri=LOGOUT_URI)

    assert is_confirmation(response) and "Location" not in response.headers
    assert is_signed_in(rp.http)
    assert sessions_of(user)[0].revoked_at is None


def test_an_access_token_is_no_id_token_hint_even_without_a_sid(app, rp, signed_in):
    # An at+jwt carries no sid: taken as a hint it would let a cookieless POST skip the question.
    response = logout(app.test_client(), "POST", id_token_hint=signed_in["access_token"])

    assert is_confirmation(response)


def test_the_endpoint_is_advertised(test_client):
    metadata = test_client.get("/.well-known/openid-configuration").get_json()

    assert metadata["end_session_endpoint"] == metadata["issuer"] + "/oauth/logout"


def test_unused_session_rows_are_untouched_by_a_logout_of_another(app, rp, user, signed_in):
    second = app.test_client()
    AuthActions(second).login(EMAIL)

    logout(rp.http, id_token_hint=signed_in["id_token"])

    db.session.expire_all()
    states = {s.id: s.revoked_at is None for s in db.session.scalars(select(UserSession))}
    assert sorted(states.values()) == [False, True]
    assert is_signed_in(second)
