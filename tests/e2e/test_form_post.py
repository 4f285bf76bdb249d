"""response_mode=form_post in Chromium: after sign-in and consent the browser POSTs the answer to the app.

The RP is Authlib's requests client; Playwright answers the loopback callback (rp.answer_for_apps) and
the test reads the authorization response from the body of the browser's request to it, as the RP's
callback handler would. The page's CSP must allow that post, and nothing on the way may break the CSP.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

import pytest
from authlib.common.security import generate_token
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e import rp
from tests.e2e.server import LiveServer
from tests.e2e.ui import LOGIN_URL, submit_sign_in

pytestmark = pytest.mark.e2e

CSP_VIOLATION = re.compile(r"content security policy", re.IGNORECASE)


def _posted_answer(page: Page, redirect_uri: str, step) -> dict[str, str]:
    """Takes the step after which the browser should post to the callback by itself; the posted fields."""
    pattern = rp.callback_pattern(redirect_uri)
    with page.expect_request(pattern) as callback:
        step()
    page.wait_for_url(pattern)
    request = callback.value
    assert request.method == "POST"
    assert request.url == redirect_uri  # nothing in the query: the answer is in the body only
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = parse_qsl(request.post_data or "", keep_blank_values=True, strict_parsing=True)
    assert len(fields) == len(dict(fields)), fields
    return dict(fields)


def _start(page: Page, live_server: LiveServer, name: str):
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(live_server, name, redirect_uri=redirect_uri)
    person = rp.create_person(live_server)
    metadata = rp.discover(live_server)
    assert "form_post" in metadata["response_modes_supported"]
    app = rp.rp_session(client)
    verifier, nonce = generate_token(64), generate_token(32)
    url, state = app.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, response_mode="form_post"
    )
    rp.start_at_rp(page, url)
    expect(page).to_have_url(LOGIN_URL)
    submit_sign_in(page, person.email, person.password)
    expect(page.get_by_role("heading", name=re.compile(r"^Allow .+ to use your account\?$"))).to_be_visible()
    return app, metadata, redirect_uri, state, verifier


def test_the_browser_posts_the_code_to_the_app_by_itself(page: Page, live_server: LiveServer) -> None:
    # Chromium logs each CSP violation to the console; a blocked form-action also stops the post itself.
    console: list[ConsoleMessage] = []
    page.on("console", lambda message: console.append(message))
    app, metadata, redirect_uri, state, verifier = _start(page, live_server, "E2E Form Post")

    answer = _posted_answer(page, redirect_uri, page.get_by_role("button", name="Allow", exact=True).click)

    assert set(answer) == {"code", "state", "iss"}
    assert answer["state"] == state and answer["iss"] == metadata["issuer"]
    violations = [m.text for m in console if CSP_VIOLATION.search(m.text)]
    assert not violations, violations
    tokens = app.fetch_token(
        metadata["token_endpoint"],
        authorization_response=f"{redirect_uri}?{urlencode(answer)}",
        state=state,
        code_verifier=verifier,
    )
    assert tokens["access_token"] and tokens["id_token"]


def test_a_denial_is_posted_too(page: Page, live_server: LiveServer) -> None:
    _, metadata, redirect_uri, state, _ = _start(page, live_server, "E2E Form Post Denied")

    answer = _posted_answer(page, redirect_uri, page.get_by_role("button", name="Deny", exact=True).click)

    assert answer["error"] == "access_denied" and "code" not in answer
    assert answer["state"] == state and answer["iss"] == metadata["issuer"]


def test_without_javascript_the_continue_button_posts_it(new_context, live_server: LiveServer) -> None:
    page = new_context(java_script_enabled=False).new_page()
    app, metadata, redirect_uri, state, verifier = _start(page, live_server, "E2E Form Post No Script")
    page.get_by_role("button", name="Allow", exact=True).click()
    continue_button = page.get_by_role("button", name="Continue", exact=True)
    expect(continue_button).to_be_visible()  # the page waits for the person: no script submitted it

    answer = _posted_answer(page, redirect_uri, continue_button.click)

    assert answer["state"] == state
    tokens = app.fetch_token(metadata["token_endpoint"], code=answer["code"], code_verifier=verifier)
    assert tokens["access_token"]
