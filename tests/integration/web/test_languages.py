"""Which language a page speaks: the profile, the switch, the app's ui_locales, the browser, the default.

Each test reads the page's own `<html lang>` and a sentence of it, so a selector that picks the right
code but a catalogue that isn't loaded (or isn't compiled) fails as well.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import UserSession
from app.models.base import utcnow
from app.settings import ConfigError

LANG = re.compile(r'<html lang="([a-z]+)">')
SIGN_IN_HEADING = {"en": "Sign in", "de": "Anmelden", "fr": "Se connecter"}


def language_of(response) -> str:
    match = LANG.search(response.get_data(as_text=True))
    assert match, "no <html lang>"
    return match.group(1)


def heading(response) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", response.get_data(as_text=True), re.S)
    assert match
    return match.group(1).strip()


def authorize_path(**params: str) -> str:
    return "/oauth/authorize?" + urlencode({"response_type": "code", "client_id": "no-such-app", **params})


def test_without_any_preference_pages_are_in_the_default_language(test_client):
    page = test_client.get("/login")
    assert language_of(page) == "en"
    assert heading(page) == SIGN_IN_HEADING["en"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("de-DE,de;q=0.9,en;q=0.5", "de"), ("fr-CA", "fr"), ("es, fr;q=0.4", "fr"), ("ja, zh", "en"), ("*", "en")],
)
def test_the_browser_languages_choose_among_those_offered(test_client, accept, expected):
    page = test_client.get("/login", headers={"Accept-Language": accept})
    assert language_of(page) == expected
    assert heading(page) == SIGN_IN_HEADING[expected]


def test_the_operator_sets_the_default_language(app_factory):
    client = app_factory(DEFAULT_LANGUAGE="de").test_client()
    assert language_of(client.get("/login", headers={"Accept-Language": "ja"})) == "de"


def test_a_default_language_without_a_catalogue_stops_start_up(app_factory):
    with pytest.raises(ConfigError, match="IDP_DEFAULT_LANGUAGE"):
        app_factory(DEFAULT_LANGUAGE="xx")


def test_the_switch_changes_the_page_and_is_remembered(test_client):
    switched = test_client.get("/login?lang=fr", headers={"Accept-Language": "de"})
    assert language_of(switched) == "fr"
    cookie = test_client.get_cookie("idp_lang")
    assert cookie is not None and cookie.value == "fr" and cookie.http_only
    # Later pages stay French although the browser prefers German.
    assert language_of(test_client.get("/register", headers={"Accept-Language": "de"})) == "fr"


def test_the_switch_offers_each_language_on_the_same_page_keeping_its_query(test_client):
    html = test_client.get("/login?next=%2Faccount%2F").get_data(as_text=True)
    switch = re.search(r'<nav class="language-switch".*?</nav>', html, re.S).group(0)
    assert 'href="/login?next=%2Faccount%2F&amp;lang=de" lang="de" hreflang="de">Deutsch</a>' in switch
    assert 'href="/login?next=%2Faccount%2F&amp;lang=fr" lang="fr" hreflang="fr">Français</a>' in switch
    assert '<span lang="en" aria-current="true">English</span>' in switch


@pytest.mark.parametrize("value", ["xx", "", "de" * 200, "../../etc", "<script>"])
def test_an_unknown_switch_value_is_ignored(test_client, value):
    page = test_client.get("/login", query_string={"lang": value}, headers={"Accept-Language": "fr"})
    assert page.status_code == 200
    assert language_of(page) == "fr"
    assert test_client.get_cookie("idp_lang") is None


def test_the_profile_locale_outranks_the_switch_and_the_browser(test_client, create_user, auth):
    user = create_user(locale="de-AT")
    test_client.get("/login?lang=fr")
    auth.login(user.email)
    assert language_of(test_client.get("/account/", headers={"Accept-Language": "fr"})) == "de"


def test_signed_in_pages_have_no_switch_the_profile_is_the_place(test_client, create_user, auth):
    auth.login(create_user().email)
    assert "language-switch" not in test_client.get("/account/").get_data(as_text=True)


def test_ui_locales_on_the_authorization_request_chooses_the_sign_in_language(test_client):
    error_page = test_client.get(authorize_path(ui_locales="fr-CA de"), headers={"Accept-Language": "de"})
    assert language_of(error_page) == "fr"
    # The sign-in page the request leads to, with the request in its `next`, and the pages after it.
    login = test_client.get("/login", query_string={"next": authorize_path(ui_locales="de")})
    assert language_of(login) == "de"
    assert language_of(test_client.get("/forgot-password")) == "de"


def test_ui_locales_with_no_offered_language_falls_back_to_the_browser(test_client):
    page = test_client.get(authorize_path(ui_locales="ja ko"), headers={"Accept-Language": "fr"})
    assert language_of(page) == "fr"


def test_the_persons_own_choice_outranks_the_apps_ui_locales(test_client):
    test_client.get("/login?lang=fr")
    assert language_of(test_client.get("/login", query_string={"next": authorize_path(ui_locales="de")})) == "fr"


def test_times_are_shown_in_the_profile_time_zone_with_the_zone_named(test_client, create_user, auth):
    user = create_user(locale="en", zoneinfo="Asia/Tokyo")
    auth.login(user.email)
    html = test_client.get("/account/sessions").get_data(as_text=True)
    assert re.search(r"\d{1,2}:\d\d\s[AP]M UTC\+9<", html), html
    assert " UTC<" not in html


def test_without_a_profile_time_zone_times_are_utc_and_say_so(test_client, create_user, auth):
    auth.login(create_user().email)
    assert re.search(r"\d{1,2}:\d\d(\s[AP]M)? UTC<", test_client.get("/account/sessions").get_data(as_text=True))


def test_a_browser_whose_session_ended_is_told_once_in_its_language(test_client, create_user, auth):
    """Choosing the message's language asks who is signed in; that must not re-run the cookie loader."""
    auth.login(create_user().email)
    db.session.execute(update(UserSession).values(revoked_at=utcnow()))
    db.session.commit()
    html = test_client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert html.count("Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.") == 1


def test_the_apps_ui_locales_outlasts_the_sign_in_that_renews_the_browser_state(test_client, create_user, auth):
    """Signing in starts a fresh session (no fixation); the app's language is carried across, like a pending link."""
    user = create_user()
    next_url = authorize_path(ui_locales="fr")
    test_client.get("/login", query_string={"next": next_url})
    auth.login(user.email, next_url=next_url)
    assert language_of(test_client.get("/account/")) == "fr"
