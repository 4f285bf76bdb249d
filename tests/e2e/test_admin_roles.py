"""Roles in Chromium: an admin creates a role and gives it to a person, whose ID token then carries it."""

from __future__ import annotations

import json
import re

import pytest
from authlib.common.security import generate_token
from playwright.sync_api import Page, expect
from sqlalchemy import update

from app.models import OAuthClient
from tests.e2e import rp
from tests.e2e.admin import make_admin_with_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, new_email, register, submit_sign_in

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")
ROLE_PAGE_URL = re.compile(r"/admin/roles/\d+$")
SCOPE = "openid profile email roles"


def register_roles_client(server: LiveServer, redirect_uri: str) -> rp.Client:
    """``flask clients create`` with the roles scope, then the roles claim switched on in the server's database."""
    output = server.flask(
        "clients",
        "create",
        "--name",
        "Staff Portal",
        "--redirect-uri",
        redirect_uri,
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--scope",
        SCOPE,
    )
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    with server.engine.begin() as connection:
        connection.execute(update(OAuthClient).where(OAuthClient.client_id == data["client_id"]).values(roles_claim=True))
    return rp.Client(data["client_id"], data["client_secret"], redirect_uri)


def test_an_admin_gives_a_role_that_reaches_the_relying_partys_id_token(page: Page, new_context, live_server: LiveServer) -> None:
    admin_email = new_email()
    register(page, admin_email)
    totp = make_admin_with_totp(live_server, admin_email)
    person = rp.create_person(live_server, "Grace Hopper")

    submit_sign_in(page, admin_email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-totp")
    challenge.get_by_label("6-digit code").fill(totp.now())
    challenge.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)

    page.goto("/admin/roles")
    create = page.locator("#role-create-form")
    create.get_by_label("Name").fill("staff:auditor")
    create.get_by_label("Description").fill("Reads the books")
    create.get_by_role("button", name="Create role").click()
    expect(page).to_have_url(ROLE_PAGE_URL)
    expect(page.get_by_role("heading", name="Role staff:auditor")).to_be_visible()

    assign = page.locator("#role-assign-form")
    assign.get_by_label("Email address").fill(person.email)
    assign.get_by_role("button", name="Give this role").click()
    expect(page.get_by_role("status").filter(has_text=f"{person.email} now has the role")).to_be_visible()
    expect(page.locator("#role-users")).to_contain_text(person.email)

    # The person, in their own browser, signs in to the relying party through the live flow.
    redirect_uri = rp.loopback_redirect_uri()
    client = register_roles_client(live_server, redirect_uri)
    metadata = rp.discover(live_server)
    assert "roles" in metadata["scopes_supported"] and "roles" in metadata["claims_supported"]
    app = rp.rp_session(client)
    app.scope = SCOPE
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    person_page = new_context().new_page()
    callback = rp.sign_in_and_answer_consent(person_page, url, person, redirect_uri, decision="Allow")
    tokens = app.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)

    claims = rp.verify_id_token(tokens["id_token"], metadata, client, nonce=nonce, access_token=tokens["access_token"])
    assert claims["roles"] == ["staff:auditor"]
    assert claims["groups"] == []
    assert rp.verify_access_token(tokens["access_token"], metadata, client)["roles"] == ["staff:auditor"]
