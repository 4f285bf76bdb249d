"""APIs and resource indicators (RFC 8707) against the live server, as the README shows them: registered with
``flask apis``, tokens asked for with Authlib's client, checked by the API with joserfc and the JWKS only.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import pytest
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from playwright.sync_api import Page, expect

from tests.e2e import rp
from tests.e2e.server import LiveServer
from tests.e2e.ui import submit_sign_in

pytestmark = pytest.mark.e2e


def register_api(server: LiveServer, name: str, *scopes: str) -> str:
    identifier = f"https://{secrets.token_hex(4)}.example/{name.lower().replace(' ', '-')}"
    args = ["apis", "create", identifier, "--name", name]
    for scope in scopes:
        args += ["--scope", scope]
    created = json.loads(server.flask(*args).strip().splitlines()[-1])
    assert created["identifier"] == identifier
    return identifier


def create_client(server: LiveServer, name: str, scope: str, *extra: str) -> rp.Client:
    output = server.flask("clients", "create", "--name", name, "--scope", scope, *extra)
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    redirect_uri = extra[extra.index("--redirect-uri") + 1] if "--redirect-uri" in extra else ""
    return rp.Client(data["client_id"], data.get("client_secret"), redirect_uri)


def api_claims(token: str, metadata: dict, audience: str) -> dict:
    """What the API does: signature with the published keys, then iss and its own identifier as aud."""
    claims = jwt.decode(token, rp.published_keys(metadata), algorithms=["ES256", "RS256"]).claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]}, aud={"essential": True, "value": audience}
    ).validate(claims)
    return claims


def test_a_machine_token_for_an_api_is_accepted_by_that_api_only(live_server: LiveServer) -> None:
    photos = register_api(live_server, "Photo API", "e2e-photos:read=See your photos")
    other = register_api(live_server, "Other API")
    agent = create_client(live_server, "Photo agent", "e2e-photos:read reports", "--grant", "client_credentials")
    live_server.flask("apis", "allow", photos, "--client", agent.client_id)
    metadata = rp.discover(live_server)

    session = rp.rp_session(agent, scope=None)  # no scope: all the client may have at that API
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", resource=photos)

    claims = api_claims(token["access_token"], metadata, photos)
    assert claims["scope"] == token["scope"] == "e2e-photos:read"
    with pytest.raises(InvalidClaimError):
        api_claims(token["access_token"], metadata, other)  # the other API refuses it
    refused = session.post(
        metadata["token_endpoint"],
        data={"grant_type": "client_credentials", "resource": other},
        auth=(agent.client_id, agent.client_secret),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"  # not allowed for this client


def test_a_person_grants_two_apis_and_the_app_gets_a_token_for_each(page: Page, live_server: LiveServer) -> None:
    mail = register_api(live_server, "Mail API", "e2e-mail:read=Read your mail")
    files = register_api(live_server, "Files API", "e2e-files:write=Save files in your storage")
    redirect_uri = rp.loopback_redirect_uri()
    scope = "openid e2e-mail:read e2e-files:write"
    extra = ["--redirect-uri", redirect_uri, "--grant", "authorization_code", "--grant", "refresh_token"]
    client = create_client(live_server, "Mail and files app", scope, *extra)
    for api in (mail, files):
        live_server.flask("apis", "allow", api, "--client", client.client_id)
    person = rp.create_person(live_server)
    metadata = rp.discover(live_server)

    app = rp.rp_session(client, scope=scope)
    verifier = generate_token(64)
    url, state = app.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(16)
    )
    url += "&" + urlencode([("resource", mail), ("resource", files)])
    rp.start_at_rp(page, url)
    submit_sign_in(page, person.email, person.password)
    # The consent page says, per API and in words, what the app will be able to do there.
    mail_section = page.locator(f'section[data-resource="{mail}"]')
    expect(mail_section.get_by_role("heading")).to_contain_text("Mail API")
    expect(mail_section.get_by_role("listitem")).to_have_text("Read your mail")
    expect(page.locator(f'section[data-resource="{files}"]').get_by_role("listitem")).to_have_text("Save files in your storage")
    callback = rp.reach_app(page, redirect_uri, page.get_by_role("button", name="Allow", exact=True).click)

    tokens = app.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier, resource=files
    )
    assert api_claims(tokens["access_token"], metadata, files)["scope"] == "e2e-files:write"
    refreshed = app.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refresh_token"], resource=mail)
    assert api_claims(refreshed["access_token"], metadata, mail)["scope"] == "e2e-mail:read"
