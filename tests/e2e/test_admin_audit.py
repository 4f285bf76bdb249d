"""The audit log in Chromium: an admin filters by event type and downloads exactly the filtered set as CSV."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.admin import make_admin_with_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, LOGIN_URL, PASSWORD, new_email, register, submit_sign_in

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")


def test_an_admin_filters_the_audit_log_by_event_type_and_exports_it_as_csv(page: Page, live_server: LiveServer) -> None:
    email = new_email()
    register(page, email)
    totp = make_admin_with_totp(live_server, email)
    submit_sign_in(page, email, "not the right password at all")  # one failed sign-in of our own to find
    expect(page).to_have_url(LOGIN_URL)

    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    challenge = page.locator("#challenge-totp")
    challenge.get_by_label("6-digit code").fill(totp.now())
    challenge.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ACCOUNT_URL)

    page.goto("/admin/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_label("Event").select_option("auth.login_failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/admin/audit\?.*event_type=auth\.login_failed"))
    rows = page.locator("#audit-events tbody tr")
    expect(rows.first).to_be_visible()
    shown = rows.evaluate_all("rows => rows.map(row => row.dataset.eventType)")
    assert shown and set(shown) == {"auth.login_failed"}
    expect(page.locator("#audit-events")).to_contain_text(email)
    total = int(re.match(r"\s*(\d+) event", page.locator("#audit-summary").inner_text()).group(1))

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("audit-") and download.suggested_filename.endswith(".csv")
    with open(download.path(), newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))

    assert len(exported) == total
    assert {row["event_type"] for row in exported} == {"auth.login_failed"}
    ours = [row for row in exported if row["subject"] == email]
    assert len(ours) == 1 and '"reason"' in ours[0]["details"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in exported for cell in row.values() if cell)
