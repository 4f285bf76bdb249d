"""Pushed authorization requests (RFC 9126) in Chromium: the RP pushes, the browser brings only the request_uri.

Authlib's client has no PAR support: the RP builds its request with OAuth2Session, pushes those parameters
to the PAR endpoint itself (HTTP Basic, as RFC 9126 2.1's example), and sends the browser to
/oauth/authorize with client_id and request_uri. Sign-in and consent carry the request_uri through.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from playwright.sync_api import Page, expect

from tests.e2e import rp
from tests.e2e.server import LiveServer

pytestmark = pytest.mark.e2e


def _register_par_client(server: LiveServer, redirect_uri: str) -> rp.Client:
    output = server.flask(
        "clients", "create", "--name", "Pushed Photos", "--redirect-uri", redirect_uri, "--grant", "authorization_code",
        "--scope", rp.SCOPE, "--require-par",
    )  # fmt: skip
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return rp.Client(data["client_id"], data["client_secret"], redirect_uri)


def test_a_pushed_request_through_sign_in_and_consent(page: Page, live_server: LiveServer) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = _register_par_client(live_server, redirect_uri)
    person = rp.create_person(live_server)
    metadata = rp.discover(live_server)
    assert metadata["pushed_authorization_request_endpoint"] == f"{live_server.url}/oauth/par"
    app = rp.rp_session(client)
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

    # Without PAR this client is turned away (require_pushed_authorization_requests), back at the app.
    refused = rp.reach_app(page, redirect_uri, lambda: rp.start_at_rp(page, url))
    assert rp.query(refused)["error"] == "invalid_request"

    pushed = requests.post(
        metadata["pushed_authorization_request_endpoint"],
        data=dict(parse_qsl(urlsplit(url).query)),
        auth=(client.client_id, client.client_secret),
        timeout=10,
    )
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["Cache-Control"] == "no-store"
    request_uri = pushed.json()["request_uri"]
    # A scope added in the browser's URL is ignored: the pushed request is what counts (RFC 9126 4).
    front = {"client_id": client.client_id, "request_uri": request_uri, "scope": "openid"}
    authorization_url = f"{metadata['authorization_endpoint']}?{urlencode(front)}"

    callback = rp.sign_in_and_answer_consent(page, authorization_url, person, redirect_uri, decision="Allow")
    answer = rp.query(callback)
    assert (answer["state"], answer["iss"]) == (state, metadata["issuer"])
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    assert set(tokens["scope"].split()) == set(rp.SCOPE.split())
    rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])

    # Spent with the code: the same link again is the error page, and nothing goes to the app.
    rp.start_at_rp(page, authorization_url)
    expect(page.locator("#oauth-error")).to_have_attribute("data-error", "invalid_request_uri")
