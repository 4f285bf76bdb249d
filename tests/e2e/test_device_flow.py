"""The device authorization grant end to end: a device polls over HTTP while a person approves in Chromium."""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e import rp
from tests.e2e.server import LiveServer
from tests.e2e.ui import LOGIN_URL, submit_sign_in

pytestmark = pytest.mark.e2e

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def register_device_client(server: LiveServer) -> str:
    output = server.flask(
        "clients",
        "create",
        "--name",
        "Living-room TV",
        "--type",
        "public",
        "--grant",
        DEVICE_GRANT,
        "--grant",
        "refresh_token",
        "--scope",
        rp.SCOPE,
    )
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])["client_id"]


def poll(metadata: dict, client_id: str, device_code: str) -> requests.Response:
    return requests.post(
        metadata["token_endpoint"],
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
        timeout=10,
    )


def start_device(metadata: dict, client_id: str) -> dict:
    response = requests.post(
        metadata["device_authorization_endpoint"], data={"client_id": client_id, "scope": rp.SCOPE}, timeout=10
    )
    assert response.status_code == 200, response.text
    grant = response.json()
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", grant["user_code"])
    assert grant["verification_uri"] == f"{metadata['issuer']}/device"
    return grant


def test_person_approves_a_device_that_then_gets_tokens_once(page: Page, live_server: LiveServer) -> None:
    metadata = rp.discover(live_server)
    client_id = register_device_client(live_server)
    person = rp.create_person(live_server, "Grace Hopper")
    grant = start_device(metadata, client_id)

    pending = poll(metadata, client_id, grant["device_code"])
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")

    # The person types the code the device shows, lower-case and without the dash.
    page.goto(grant["verification_uri"])
    expect(page).to_have_url(LOGIN_URL)
    submit_sign_in(page, person.email, person.password)
    page.get_by_label("Code").fill(grant["user_code"].replace("-", "").lower())
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#user-code")).to_have_text(grant["user_code"])
    expect(page.locator("#client-name")).to_have_text("Living-room TV")
    page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.locator("#device-done")).to_have_attribute("data-outcome", "approved")

    tokens = poll(metadata, client_id, grant["device_code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"].lower() == "bearer" and body["refresh_token"]
    id_claims = rp.verify_device_id_token(body["id_token"], metadata, client_id, access_token=body["access_token"])
    assert rp.userinfo_status(metadata, body["access_token"]) == 200
    assert id_claims["email"] == person.email

    again = poll(metadata, client_id, grant["device_code"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_person_denies_a_device_from_the_prefilled_link(page: Page, live_server: LiveServer) -> None:
    metadata = rp.discover(live_server)
    client_id = register_device_client(live_server)
    person = rp.create_person(live_server, "Alan Turing")
    grant = start_device(metadata, client_id)

    page.goto(grant["verification_uri_complete"])
    expect(page).to_have_url(LOGIN_URL)
    submit_sign_in(page, person.email, person.password)
    # The code arrives pre-filled; the person still presses Continue (a link alone approves nothing).
    expect(page.get_by_label("Code")).to_have_value(grant["user_code"])
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#user-code")).to_have_text(grant["user_code"])
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.locator("#device-done")).to_have_attribute("data-outcome", "denied")

    denied = poll(metadata, client_id, grant["device_code"])
    assert (denied.status_code, denied.json()["error"]) == (400, "access_denied")
