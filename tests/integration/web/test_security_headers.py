"""Response headers and cookies on every page (BCP §4.16, ASVS 3.3-3.4)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DEFAULT_PASSWORD, csrf_from
from tests.integration.web.helpers import add_user, post_form

PAGES = ["/login", "/register", "/forgot-password", "/reset-password/reset_unknown", "/no-such-page", "/healthz"]
HTML_PAGES = ["/login", "/register", "/forgot-password", "/reset-password/reset_unknown", "/no-such-page"]
HTTPS = "https://localhost"


def csp(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in filter(None, (piece.strip() for piece in header.split(";"))):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_a_csp_without_unsafe_sources(test_client, path):
    response = test_client.get(path)
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert not any(value in {"*", "http:", "https:"} for values in policy.values() for value in values)


@pytest.mark.parametrize("path", PAGES)
def test_every_response_forbids_framing_sniffing_and_referrers(test_client, path):
    headers = test_client.get(path).headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_never_cached(test_client, path):
    assert test_client.get(path).headers["Cache-Control"] == "no-store"


def test_signed_in_pages_are_never_cached(test_client, auth, create_user):
    user = create_user()
    auth.login(user.email)
    response = test_client.get("/account/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_the_sign_in_page_sends_no_cors_headers(test_client):
    response = test_client.get("/login", headers={"Origin": "https://evil.example"})
    assert not any(name.lower().startswith("access-control-") for name in response.headers.keys())


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_need_no_inline_script_or_style_and_load_nothing_from_elsewhere(test_client, path):
    html = test_client.get(path).get_data(as_text=True)
    assert "<html" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html and not re.search(r"\sstyle=", html), "inline style"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert not re.match(r"(?i)(https?:)?//", url), f"third-party asset {url}"


def test_without_an_https_issuer_there_is_no_hsts(test_client):
    assert "Strict-Transport-Security" not in test_client.get("/login").headers


def test_with_an_https_issuer_hsts_is_sent_for_at_least_a_year(app_factory):
    app = app_factory(ISSUER="https://id.example")
    response = app.test_client().get("/login", base_url=HTTPS)
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 365 * 24 * 3600 and "includeSubDomains" in hsts


def cookies_by_name(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def assert_host_prefixed(set_cookie: str) -> None:
    attributes = [part.strip().lower() for part in set_cookie.split(";")[1:]]
    assert set_cookie.startswith("__Host-")
    assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes
    assert "path=/" in attributes
    assert not any(attribute.startswith("domain=") for attribute in attributes)


def test_with_an_https_issuer_cookies_are_host_prefixed_secure_httponly_and_lax(app_factory):
    app = app_factory(ISSUER="https://id.example")
    add_user(app, "ada@example.com")
    client = app.test_client()

    page = client.get("/login", base_url=HTTPS)
    assert_host_prefixed(cookies_by_name(page)["__Host-idp_state"])

    response = post_form(client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, base_url=HTTPS)
    assert response.status_code == 303
    cookies = cookies_by_name(response)
    assert_host_prefixed(cookies["__Host-idp_session"])
    assert_host_prefixed(cookies["__Host-idp_state"])
    assert not any(name.startswith("idp_") for name in cookies)

    account = client.get("/account/", base_url=HTTPS)
    logout = client.post("/logout", base_url=HTTPS, data={"csrf_token": csrf_from(account.get_data(as_text=True))})
    # Browsers ignore a __Host- Set-Cookie without Secure, so the deletion must carry it too.
    deletion = cookies_by_name(logout)["__Host-idp_session"]
    assert_host_prefixed(deletion)
    assert "expires=thu, 01 jan 1970" in deletion.lower() or "max-age=0" in deletion.lower()


def test_with_an_http_issuer_cookies_are_unprefixed_but_still_httponly_and_lax(test_client, create_user):
    user = create_user()
    response = post_form(test_client, "/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 303
    for name in ("idp_session", "idp_state"):
        attributes = [part.strip().lower() for part in cookies_by_name(response)[name].split(";")[1:]]
        assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
        assert "secure" not in attributes


def test_production_config_derives_host_prefixed_secure_cookies_from_an_https_issuer(monkeypatch):
    from app.config import Config

    monkeypatch.setenv("IDP_SECRET_KEY", "k" * 48)
    monkeypatch.setenv("IDP_ISSUER", "https://id.example/")
    config = Config()
    assert config.ISSUER == "https://id.example"
    assert (config.AUTH_COOKIE_NAME, config.SESSION_COOKIE_NAME) == ("__Host-idp_session", "__Host-idp_state")
    assert config.SESSION_COOKIE_SECURE is True and config.SESSION_COOKIE_HTTPONLY is True
    assert config.SESSION_COOKIE_SAMESITE == "Lax"


def test_with_an_https_issuer_forms_work_without_a_referer_since_our_policy_sends_none(app_factory):
    app = app_factory(ISSUER="https://id.example")
    add_user(app, "ada@example.com")
    client = app.test_client()
    response = post_form(client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, base_url=HTTPS)
    assert response.status_code == 303
    assert response.request.headers.get("Referer") is None
