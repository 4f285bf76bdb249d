"""Signing out is a POST from the top bar, and afterwards neither Back nor a reload shows the account."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import ACCOUNT_URL, LOGIN_URL, expect_signed_out, new_email, register, sign_in, sign_out

pytestmark = pytest.mark.e2e


def test_sign_out_is_a_post_and_the_account_stays_closed(page: Page, new_context) -> None:
    email = new_email()
    register(page, email)
    sign_in(page, email)
    session_cookies = page.context.cookies()

    # A plain GET (a link, an <img>, a prefetch) cannot sign anyone out.
    assert page.request.get("/logout", max_redirects=0).status == 405
    page.goto("/account/")
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.locator("#account-email")).to_contain_text(email)

    with page.expect_request(lambda request: request.url.endswith("/logout")) as sent:
        sign_out(page)
    assert sent.value.method == "POST"

    # Back to the account page: with no-store it is neither restored from the back/forward cache nor
    # from the HTTP cache but fetched again, and the server sends the browser to sign in.
    # ("commit": a page restored from the back/forward cache fires no load event to wait for.)
    page.go_back(wait_until="commit")
    expect(page).to_have_url(LOGIN_URL)
    expect_signed_out(page)
    expect(page.get_by_text(email)).to_have_count(0)

    page.goto("/account/")
    expect(page).to_have_url(LOGIN_URL)
    expect_signed_out(page)
    page.reload()
    expect_signed_out(page)
    expect(page.get_by_text(email)).to_have_count(0)

    # The server ended the session: the old cookie, replayed in a fresh browser, opens nothing.
    replay = new_context()
    replay.add_cookies(session_cookies)
    replay_page = replay.new_page()
    replay_page.goto("/account/")
    expect(replay_page).to_have_url(LOGIN_URL)
    expect_signed_out(replay_page)
