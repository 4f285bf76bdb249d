"""The account overview: the person's state at a glance, and the way to every account page."""

from __future__ import annotations


def test_the_account_overview_counts_sessions_and_links_every_account_page(create_user, auth):
    create_user(email="ada@example.com")
    auth.login("ada@example.com")

    html = auth.client.get("/account/").get_data(as_text=True)

    assert "1 active session" in html and "0 apps" in html
    for path in (
        "/account/profile",
        "/account/password",
        "/mfa/",
        "/account/sessions",
        "/account/apps",
        "/account/history",
        "/account/export",
        "/account/delete",
    ):
        assert f'href="{path}"' in html
