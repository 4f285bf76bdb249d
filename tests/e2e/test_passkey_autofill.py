"""Passkeys offered in the browser's autofill of the sign-in email field (WebAuthn conditional mediation).

Chromium's DevTools virtual authenticator answers a pending conditional request by itself once it holds a
discoverable credential for the site (automatic presence simulation): that stands in for the person
picking the passkey from the autofill list, which no DevTools call can click.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.server import LiveServer
from tests.e2e.test_mfa_webauthn import latest_amr, new_person_with_key, stored_credentials, watch_csp
from tests.e2e.ui import sign_out

pytestmark = pytest.mark.e2e

SECURITY_URL = re.compile(r"^https?://[^/]+/mfa/$")


def set_presence(cdp, authenticator_id: str, *, automatic: bool) -> None:
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator_id, "enabled": automatic})


def test_the_email_field_offers_passkeys_and_choosing_one_signs_in(page: Page, live_server: LiveServer) -> None:
    refused = watch_csp(page)
    cdp, authenticator_id, email = new_person_with_key(page, "Add a passkey", "This laptop")
    assert stored_credentials(cdp, authenticator_id)[0]["isResidentCredential"]
    # Held back while signing out: the sign-in page it lands on would be answered at once.
    set_presence(cdp, authenticator_id, automatic=False)
    sign_out(page)
    expect(page.get_by_label("Email address")).to_have_attribute("autocomplete", "username webauthn")
    set_presence(cdp, authenticator_id, automatic=True)

    page.goto("/login?next=/mfa/")  # nothing clicked: the page's conditional request gets the passkey

    expect(page).to_have_url(SECURITY_URL)  # signed in by the autofill, where the page was asked to lead
    expect(page.get_by_role("banner").get_by_role("link", name=email)).to_be_visible()
    assert latest_amr(live_server, email) == ["hwk", "user", "mfa"]
    assert refused == []


def test_a_browser_without_webauthn_sees_no_passkey_button(page: Page, live_server: LiveServer) -> None:
    """The script hides the button where passkeys can't work; the hidden attribute must beat .button's display."""
    page.add_init_script("delete window.PublicKeyCredential")
    page.goto("/login")

    expect(page.locator("#passkey-button")).to_be_hidden()
    expect(page.get_by_label("Email")).to_be_visible()  # the password form still works
