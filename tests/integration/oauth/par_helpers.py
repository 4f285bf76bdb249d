"""Pushing an authorization request (RFC 9126) and bringing its request_uri to /oauth/authorize, for the PAR tests."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from app.core.pushed_requests import REQUEST_URI_PREFIX
from tests.conftest import DEFAULT_PASSWORD, csrf_from
from tests.integration.oauth.conftest import Pending, RelyingParty

PAR = "/oauth/par"


def push(rp: RelyingParty, client, secret, *, method: str | None = None, **overrides) -> tuple[Pending, object]:
    """POST the authorization request rp.request() would send; returns it and the PAR response."""
    pending = rp.request(client, **overrides)
    return pending, rp.post(PAR, client, secret, pending.params, method)


def pushed_uri(response) -> str:
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["request_uri"].startswith(REQUEST_URI_PREFIX)
    assert body["expires_in"] == 60
    assert response.headers["Cache-Control"] == "no-store"
    return body["request_uri"]


def front(rp: RelyingParty, client_id: str, request_uri: str, **extra):
    """The browser at /oauth/authorize with the request_uri (and whatever else is added to the URL)."""
    return rp.http.get("/oauth/authorize", query_string={"client_id": client_id, "request_uri": request_uri, **extra})


def follow_sign_in(rp: RelyingParty, response, email: str):
    """From the redirect to /login, sign in and come back to the authorization URL it carried."""
    assert response.status_code == 302 and urlsplit(response.location).path == "/login", response.location
    next_url = parse_qs(urlsplit(response.location).query)["next"][0]
    form = rp.http.get(response.location)  # the form shows even when signed in (reauth=1)
    data = {"csrf_token": csrf_from(form.get_data(as_text=True)), "email": email, "password": DEFAULT_PASSWORD}
    signed_in = rp.http.post("/login", data={**data, "next": next_url})
    assert signed_in.status_code == 303, signed_in.status_code
    return rp.http.get(signed_in.location)


def assert_json_error(response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def assert_request_uri_page(response) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'data-error="invalid_request_uri"' in response.get_data(as_text=True)
