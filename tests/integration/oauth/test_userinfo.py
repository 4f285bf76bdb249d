"""UserInfo (OIDC Core 5.3, RFC 6750): Bearer header only, openid scope, claims per scope, errors in WWW-Authenticate.

OpenID conformance modules covered here: oidcc-userinfo-get, oidcc-userinfo-post-header, and
oidcc-userinfo-post-body, whose token-in-body form is refused on purpose (the suite accepts that with a warning).
"""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.conftest import AuthActions
from tests.integration.oauth.conftest import RelyingParty, verify_jwt


@pytest.fixture
def user(create_user):
    return create_user(email="ada@example.com", display_name="Ada Lovelace")


def assert_bearer_error(response, status: int, error: str | None):
    assert response.status_code == status
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    if error:
        assert f'error="{error}"' in challenge
        assert response.get_json()["error"] == error


def test_userinfo_answers_get_and_post_with_a_bearer_token(rp, user, tokens, subtests):
    for method in ("GET", "POST"):
        with subtests.test(method=method):
            response = rp.userinfo(tokens["access_token"], method=method)

            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "no-store"
            assert response.get_json() == {
                "sub": str(user.id),
                "name": "Ada Lovelace",
                "updated_at": int(user.updated_at.timestamp()),
                "email": "ada@example.com",
                "email_verified": True,
            }


def test_sub_equals_the_id_tokens_sub(rp, tokens):
    id_token = verify_jwt(rp.http, tokens["id_token"]).claims

    assert rp.userinfo(tokens["access_token"]).get_json()["sub"] == id_token["sub"]


def test_the_scheme_name_is_case_insensitive(rp, tokens):
    response = rp.http.get("/oauth/userinfo", headers={"Authorization": f"bearer {tokens['access_token']}"})

    assert response.status_code == 200


def test_claims_follow_the_tokens_scope(rp, user, rp_client):
    client, secret = rp_client
    rp.auth.login(user.email)
    for scope, keys in [("openid", {"sub"}), ("openid email", {"sub", "email", "email_verified"})]:
        tokens = rp.tokens(client, secret, scope=scope)
        assert set(rp.userinfo(tokens["access_token"]).get_json()) == keys


def test_claims_are_current_not_a_copy_from_sign_in(rp, user, tokens):
    user.email = "ada.lovelace@example.com"
    db.session.commit()

    assert rp.userinfo(tokens["access_token"]).get_json()["email"] == "ada.lovelace@example.com"


def test_the_token_is_read_from_the_authorization_header_only(rp, tokens, subtests):
    """Never from the URL (docs/security.md Tokens); the form-body variant of RFC 6750 2.2 is not offered either."""
    attempts = {
        "query-string": lambda: rp.http.get("/oauth/userinfo", query_string={"access_token": tokens["access_token"]}),
        "form-body": lambda: rp.http.post("/oauth/userinfo", data={"access_token": tokens["access_token"]}),
        "no-header": lambda: rp.http.get("/oauth/userinfo"),
    }
    for name, attempt in attempts.items():
        with subtests.test(name):
            assert_bearer_error(attempt(), 401, None)
    for header in ["Basic YTpi", "Bearer", "Bearer ", "Token abc", "Bearer not-a-jwt", "Bearer a b"]:
        with subtests.test(header=header):
            response = rp.http.get("/oauth/userinfo", headers={"Authorization": header})
            assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "sub" not in (response.get_json() or {})


def test_a_token_without_openid_is_403_insufficient_scope(rp, user, rp_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user, scope="profile email")

    assert_bearer_error(rp.userinfo(tokens["access_token"]), 403, "insufficient_scope")


def test_a_revoked_token_is_401_invalid_token(rp, rp_client, tokens):
    client, secret = rp_client
    rp.revoke(client, secret, tokens["access_token"])

    assert_bearer_error(rp.userinfo(tokens["access_token"]), 401, "invalid_token")


def test_an_expired_token_is_401_invalid_token(app_factory, create_user, create_oauth_client):
    app = app_factory(ACCESS_TOKEN_TTL=-30)
    with app.app_context():
        http = app.test_client()
        party = RelyingParty(app, http, AuthActions(http))
        client, secret = create_oauth_client()
        tokens = party.tokens(client, secret, create_user(email="ada@example.com"))

        assert_bearer_error(party.userinfo(tokens["access_token"]), 401, "invalid_token")


def test_id_and_refresh_tokens_are_not_access_tokens(rp, tokens, subtests):
    for kind in ("id_token", "refresh_token"):
        with subtests.test(kind):
            assert_bearer_error(rp.userinfo(tokens[kind]), 401, "invalid_token")


@pytest.mark.parametrize("state", ["disabled", "deleted"])
def test_a_disabled_or_deleted_account_is_401(rp, user, tokens, state):
    if state == "disabled":
        user.is_disabled = True
    else:
        db.session.delete(user)
    db.session.commit()

    assert_bearer_error(rp.userinfo(tokens["access_token"]), 401, "invalid_token")


def test_userinfo_needs_no_cookie_and_ignores_one(rp, app, tokens):
    stranger = app.test_client()  # no session cookie at all
    assert stranger.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
    assert rp.http.get("/oauth/userinfo").status_code == 401  # signed in, but no token


def test_profile_claims_include_the_names_locale_and_zone_only_when_set(rp, user, rp_client):
    client, secret = rp_client
    user.given_name, user.family_name, user.locale = "Ada", "Lovelace", "en-GB"
    db.session.commit()
    tokens = rp.tokens(client, secret, user)

    claims = rp.userinfo(tokens["access_token"]).get_json()

    assert (claims["given_name"], claims["family_name"], claims["locale"]) == ("Ada", "Lovelace", "en-GB")
    assert "zoneinfo" not in claims  # never sent empty
