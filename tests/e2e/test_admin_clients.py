"""The client console in Chromium: an admin creates a confidential client, and its one-time secret works."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.admin import make_admin_with_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, new_email, register, submit_sign_in

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def client_credentials(server: LiveServer, client_id: str, secret: str, scope: str) -> tuple[int, dict]:
    """A machine's token request to the live server, client_secret_basic (RFC 6749 2.3.1)."""
    basic = base64.b64encode(f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode()
    request = urllib.request.Request(f"{server.url}/oauth/token", data=body, headers={"Authorization": f"Basic {basic}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_an_admin_creates_a_client_whose_one_time_secret_works(page: Page, live_server: LiveServer) -> None:
    email = new_email()
    register(page, email)
    totp = make_admin_with_totp(live_server, email)

    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-totp")
    challenge.get_by_label("6-digit code").fill(totp.now())
    challenge.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)

    page.goto("/admin/clients")
    page.get_by_role("link", name="New client").click()
    page.get_by_label("Confidential (a server that keeps a secret)").check()
    page.get_by_label("Name").fill("Nightly billing job")
    page.get_by_label("Client credentials (the app acts for itself)").check()
    page.get_by_label("Scopes (space-separated)").fill("invoices:read invoices:write")
    page.get_by_role("button", name="Create client").click()

    expect(page.get_by_role("heading", name="Client created")).to_be_visible()
    expect(page.locator("#secret-once")).to_contain_text("shown only this once")
    client_id = page.locator("#client-id").inner_text().strip()
    secret = page.locator("#client-secret").inner_text().strip()
    assert secret.startswith("cs_")

    status, body = client_credentials(live_server, client_id, secret, "invoices:read")
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["scope"] == "invoices:read"
    assert client_credentials(live_server, client_id, secret + "x", "invoices:read")[0] == 401

    # Never shown again: the client's page and the list show the id only.
    page.get_by_role("link", name="I've saved it, go to the client").click()
    expect(page.get_by_role("heading", name="Nightly billing job")).to_be_visible()
    expect(page.locator("#client-id")).to_have_text(client_id)
    expect(page.get_by_text(secret)).to_have_count(0)
    page.goto("/admin/clients")
    expect(page.locator(f"#client-{client_id}")).to_contain_text("Nightly billing job")
    expect(page.get_by_text(secret)).to_have_count(0)


def test_an_admin_sets_a_clients_back_channel_logout_uri_and_a_bad_one_is_refused_at_the_field(
    page: Page, live_server: LiveServer
) -> None:
    email = new_email()
    register(page, email)
    totp = make_admin_with_totp(live_server, email)
    submit_sign_in(page, email, PASSWORD)
    page.locator("#challenge-totp").get_by_label("6-digit code").fill(totp.now())
    page.locator("#challenge-totp").get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)

    page.goto("/admin/clients/new")
    page.get_by_label("Name").fill("Notes with its own sessions")
    page.get_by_label("Confidential (a server that keeps a secret)").check()
    page.get_by_label("Redirect URIs (one per line)", exact=True).fill("https://notes.example/callback")
    page.get_by_label("Authorization code (people sign in)").check()
    page.get_by_label("Scopes (space-separated)").fill("openid profile")
    page.get_by_label("Back-channel logout URI").fill("https://notes.example/logout#fragment")
    page.get_by_role("button", name="Create client").click()
    # Refused next to its field, the form kept, nothing created.
    error = page.locator("#backchannel_logout_uri-errors")
    expect(error).to_contain_text("fragment")
    expect(page.get_by_label("Back-channel logout URI")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("Notes with its own sessions")

    page.get_by_label("Back-channel logout URI").fill("https://notes.example/backchannel-logout")
    page.get_by_label("The app needs the session ID (sid) in logout tokens").check()
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_role("heading", name="Client created")).to_be_visible()
    page.get_by_role("link", name="I've saved it, go to the client").click()
    expect(page.locator("#client-backchannel")).to_have_text(
        "https://notes.example/backchannel-logout, with the session ID (sid)"
    )
    page.goto("/admin/clients")
    expect(page.get_by_text("Notes with its own sessions")).to_have_count(1)  # created once, not at the refusal
