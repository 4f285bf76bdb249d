"""Consent (docs/security.md Consent, ASVS 10.7): shown per client and scope set, remembered, CSRF-protected."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from sqlalchemy import select

from app.core.scopes import describe_scope
from app.extensions import db
from app.models import AuthorizationCode, OAuthConsent
from tests.conftest import audit_types, csrf_from
from tests.integration.oauth.conftest import REDIRECT_URI, count_rows, params_of, redirect_base


@pytest.fixture
def signed_in(auth, user):
    auth.login(user.email)
    return user


@pytest.fixture
def rp_client(create_oauth_client):
    return create_oauth_client(name="Photo Printer")


def consent_of(user, client) -> OAuthConsent | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_id == client.id))


def test_consent_page_names_the_client_each_scope_and_the_redirect_host(rp, signed_in, rp_client):
    client, _ = rp_client

    page = rp.authorize(rp.request(client, scope="openid profile email offline_access"))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<span id="client-name">Photo Printer</span>' in html
    for scope in ("openid", "profile", "email", "offline_access"):
        assert f'data-scope="{scope}">{escape(describe_scope(scope))}</li>' in html
    assert "<strong>rp.example</strong>" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert count_rows(AuthorizationCode) == 0 and count_rows(OAuthConsent) == 0


def test_consent_page_escapes_the_client_name(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(name='<script>alert("x")</script>')

    html = rp.authorize(rp.request(client)).get_data(as_text=True)

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


def test_deny_redirects_with_access_denied_state_and_iss_by_303(app, rp, signed_in, rp_client):
    client, _ = rp_client
    pending = rp.request(client)

    response = rp.answer(rp.authorize(pending), "deny")

    assert response.status_code == 303
    assert redirect_base(response) == REDIRECT_URI
    params = params_of(response)
    assert params["error"] == "access_denied"
    assert params["state"] == pending.params["state"] and params["iss"] == app.config["ISSUER"]
    assert "code" not in params
    assert count_rows(AuthorizationCode) == 0
    assert consent_of(signed_in, client) is None
    assert audit_types(signed_in)[-1] == "oauth.consent_denied"


def test_approve_redirects_with_a_code_by_303_and_remembers_the_consent(app, rp, signed_in, rp_client):
    client, _ = rp_client
    pending = rp.request(client, scope="openid email")

    response = rp.answer(rp.authorize(pending), "approve")

    assert response.status_code == 303
    params = params_of(response)
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == pending.params["state"]
    assert consent_of(signed_in, client).scope == "email openid"
    assert count_rows(AuthorizationCode) == 1
    assert audit_types(signed_in)[-1] == "oauth.consent_granted"


def test_remembered_consent_skips_the_page_for_the_same_or_fewer_scopes(rp, signed_in, rp_client):
    client, _ = rp_client
    rp.answer(rp.authorize(rp.request(client, scope="openid email profile")))

    for scope in ("openid email profile", "openid email", "openid"):
        response = rp.authorize(rp.request(client, scope=scope))
        assert response.status_code == 302, scope
        assert "code" in params_of(response)
    assert audit_types(signed_in).count("oauth.consent_granted") == 1


def test_asking_for_more_scopes_asks_again_and_adds_them(rp, signed_in, rp_client):
    client, _ = rp_client
    rp.answer(rp.authorize(rp.request(client, scope="openid")))

    page = rp.authorize(rp.request(client, scope="openid email"))

    assert page.status_code == 200
    assert 'data-scope="email"' in page.get_data(as_text=True)
    assert rp.answer(page).status_code == 303
    assert consent_of(signed_in, client).scope == "email openid"
    assert rp.authorize(rp.request(client, scope="openid email")).status_code == 302


def test_denying_more_scopes_keeps_what_was_approved(rp, signed_in, rp_client):
    client, _ = rp_client
    rp.answer(rp.authorize(rp.request(client, scope="openid")))

    response = rp.answer(rp.authorize(rp.request(client, scope="openid email")), "deny")

    assert params_of(response)["error"] == "access_denied"
    assert consent_of(signed_in, client).scope == "openid"


def test_consent_is_per_client(rp, signed_in, rp_client, create_oauth_client):
    client, _ = rp_client
    other, _ = create_oauth_client(name="Other App")
    rp.answer(rp.authorize(rp.request(client)))

    assert rp.authorize(rp.request(other)).status_code == 200


def test_consent_is_per_person(app, rp, signed_in, rp_client, create_user, auth):
    client, _ = rp_client
    rp.answer(rp.authorize(rp.request(client)))
    auth.logout()
    auth.login(create_user(email="bob@example.com").email)

    assert rp.authorize(rp.request(client)).status_code == 200


def test_first_party_clients_skip_the_consent_page(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_first_party=True)

    response = rp.authorize(rp.request(client))

    assert response.status_code == 302
    assert "code" in params_of(response)
    assert count_rows(OAuthConsent) == 0


def test_prompt_consent_forces_the_page_even_when_remembered(rp, signed_in, rp_client):
    client, _ = rp_client
    rp.answer(rp.authorize(rp.request(client)))

    page = rp.authorize(rp.request(client, prompt="consent"))

    assert page.status_code == 200
    assert "client-name" in page.get_data(as_text=True)


def test_prompt_consent_forces_the_page_for_first_party_clients_too(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_first_party=True)

    assert rp.authorize(rp.request(client, prompt="consent")).status_code == 200


def test_consent_post_without_a_valid_csrf_token_is_400_and_issues_nothing(app, rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    page = rp.authorize(rp.request(client))
    other_browser = app.test_client()  # a token from another browser's session is not this one's
    foreign = csrf_from(other_browser.get("/login").get_data(as_text=True))
    for token in [None, "", "forged-token", foreign]:
        with subtests.test(token=token):
            data = {"decision": "approve"}
            if token is not None:
                data["csrf_token"] = token

            response = rp.http.post(rp.consent_action(page), data=data)

            assert response.status_code == 400
            assert "Location" not in response.headers
            assert count_rows(AuthorizationCode) == 0
            assert consent_of(signed_in, client) is None
            assert "oauth.consent_granted" not in audit_types(signed_in)


def test_consent_post_with_a_redirect_uri_swapped_in_the_query_gets_the_error_page(rp, signed_in, rp_client):
    client, _ = rp_client
    page = rp.authorize(rp.request(client))
    action = urlsplit(rp.consent_action(page))
    query = [(k, "https://evil.example/cb" if k == "redirect_uri" else v) for k, v in parse_qsl(action.query)]

    response = rp.http.post(f"{action.path}?{urlencode(query)}", data={"csrf_token": _csrf(page), "decision": "approve"})

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert count_rows(AuthorizationCode) == 0 and consent_of(signed_in, client) is None


def test_consent_post_after_sign_out_goes_to_sign_in_and_issues_nothing(rp, signed_in, rp_client, auth):
    client, _ = rp_client
    page = rp.authorize(rp.request(client))
    auth.logout()

    response = rp.http.post(rp.consent_action(page), data={"csrf_token": auth.csrf(), "decision": "approve"})

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert count_rows(AuthorizationCode) == 0 and count_rows(OAuthConsent) == 0


def test_consent_decision_other_than_approve_is_a_denial(rp, signed_in, rp_client):
    client, _ = rp_client
    page = rp.authorize(rp.request(client))

    response = rp.http.post(rp.consent_action(page), data={"csrf_token": _csrf(page), "decision": "yes please"})

    assert params_of(response)["error"] == "access_denied"
    assert count_rows(AuthorizationCode) == 0


def test_consent_endpoint_refuses_get(rp, signed_in, rp_client):
    client, _ = rp_client
    page = rp.authorize(rp.request(client))

    response = rp.http.get(rp.consent_action(page))

    assert response.status_code == 405
    assert count_rows(AuthorizationCode) == 0


def test_unverified_email_gets_the_403_page_and_no_code(rp, auth, create_user, rp_client):
    client, _ = rp_client
    user = create_user(email="new@example.com", verified=False)
    auth.login(user.email)

    response = rp.authorize(rp.request(client))

    assert response.status_code == 403
    assert "Location" not in response.headers
    assert "Confirm your email address first" in response.get_data(as_text=True)
    assert count_rows(AuthorizationCode) == 0 and count_rows(OAuthConsent) == 0


def test_unverified_email_cannot_approve_a_consent_page_opened_before(rp, auth, create_user, rp_client):
    client, _ = rp_client
    user = create_user(email="new@example.com", verified=True)
    auth.login(user.email)
    page = rp.authorize(rp.request(client))
    user.email_verified_at = None
    db.session.commit()

    response = rp.answer(page)

    assert response.status_code == 403
    assert count_rows(AuthorizationCode) == 0 and count_rows(OAuthConsent) == 0


def test_unverified_email_with_prompt_none_gets_interaction_required(app, rp, auth, create_user, rp_client):
    client, _ = rp_client
    auth.login(create_user(email="new@example.com", verified=False).email)

    response = rp.authorize(rp.request(client, prompt="none"))

    assert params_of(response)["error"] == "interaction_required"
    assert count_rows(AuthorizationCode) == 0


def _csrf(page) -> str:
    return csrf_from(page.get_data(as_text=True))
