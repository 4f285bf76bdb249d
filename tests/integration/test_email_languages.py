"""Emails go out in the recipient's language: the profile's; else, for their own request, the page's; else the default.

These tests check the locale each mail is rendered under (a spy on force_locale), and with the real
German catalogue that the subject, the text and the HTML all come out in that language.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, get_locale

from app.config import PROJECT_ROOT
from app.core.live_sessions import Device
from app.extensions import db
from app.models import User
from app.web import notices
from app.web.i18n import format_time
from tests.integration.auth.helpers import post_form

ENGLISH = ["Your password was changed", "Your new account", "A passkey was added to your account", "Hello %(name)s,", "Privacy"]


def _german() -> dict[str, str]:
    with open(PROJECT_ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po", "rb") as source:
        catalogue = read_po(source, locale="de")
    return {english: catalogue.get(english).string for english in ENGLISH}


GERMAN = _german()


@pytest.fixture(autouse=True)
def links_without_a_request(monkeypatch):
    """A background job has no request to build url_for paths with; the links aren't what these tests check."""
    monkeypatch.setattr(notices, "external_url", lambda endpoint, **values: f"https://id.example/{endpoint}")


@pytest.fixture
def locales(monkeypatch) -> list[str]:
    """The language of every mail rendered from now on, in order."""
    seen: list[str] = []

    @contextmanager
    def spy(language):
        with force_locale(language):
            seen.append(str(get_locale()))
            yield

    monkeypatch.setattr(notices, "force_locale", spy)
    return seen


@pytest.fixture
def german_app(app_factory):
    app = app_factory(BRAND_PRIVACY_URL="https://example.com/privacy")
    with app.app_context():
        yield app


def as_operator(monkeypatch, operator_id: int = 999_999) -> None:
    """The request is an operator's (a signed-in person who isn't the recipient)."""
    monkeypatch.setattr(notices, "current_user", SimpleNamespace(user=SimpleNamespace(id=operator_id)))


def test_a_profile_locale_writes_the_mail_in_that_language(app, create_user, locales, mailbox):
    user = create_user(email="ada@example.com", locale="de-AT")

    notices.send_password_changed(user)

    assert locales == ["de"]
    assert mailbox.wait_for("ada@example.com")


def test_without_a_profile_locale_or_a_request_the_default_language_is_used(app_factory, create_user, locales):
    app = app_factory(DEFAULT_LANGUAGE="fr")
    with app.app_context():
        user = create_user(email="ada@example.com")
        notices.send_password_changed(user)
    assert locales == ["fr"]


def test_a_mail_for_the_persons_own_request_follows_the_page_language(app, create_user, locales, mailbox):
    create_user(email="ada@example.com")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr-CA,fr;q=0.9"

    post_form(client, "/forgot-password", {"email": "ada@example.com"}, token_from="/forgot-password")

    assert mailbox.wait_for("ada@example.com")  # its subject is French once the real catalogue has it
    assert locales == ["fr"]


def test_the_profile_locale_beats_the_page_language(app, create_user, locales):
    user = create_user(email="ada@example.com", locale="de")
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        notices.send_password_reset(user, "reset_token")
    assert locales == ["de"]


def test_an_operators_invitation_uses_the_recipients_locale_never_the_operators_page(app, create_user, locales, monkeypatch):
    with_locale = create_user(email="ada@example.com", locale="fr")
    without = create_user(email="bob@example.com")
    with app.test_request_context(headers={"Accept-Language": "de"}):
        as_operator(monkeypatch)
        notices.send_invitation(with_locale, "reset_token")
        notices.send_invitation(without, "reset_token")
    assert locales == ["fr", app.config["DEFAULT_LANGUAGE"]]


def test_an_invitation_ignores_the_page_language_even_without_a_signed_in_operator(app, create_user, locales):
    user = create_user(email="bob@example.com")
    with app.test_request_context(headers={"Accept-Language": "de"}):
        notices.send_invitation(user, "reset_token")
    assert locales == [app.config["DEFAULT_LANGUAGE"]]


def test_a_notice_an_operator_causes_for_someone_else_ignores_the_operators_page(app, create_user, locales, monkeypatch):
    user = create_user(email="bob@example.com")
    with app.test_request_context(headers={"Accept-Language": "de"}):
        as_operator(monkeypatch)
        notices.send_password_reset(user, "reset_token")
        notices.send_sign_in_method_notice(user, "GitHub", "unlinked")
    assert locales == [app.config["DEFAULT_LANGUAGE"]] * 2


def add_user(**columns: object) -> User:
    user = User(**columns)
    db.session.add(user)
    db.session.commit()
    return user


def test_subject_text_and_html_are_all_in_the_recipients_language(german_app, mailbox):
    user = add_user(email="ada@example.com", locale="de", display_name="Ada")

    notices.send_factor_notice(user, "passkey", "added")

    mail = mailbox.wait_for("ada@example.com")
    assert mail.subject == "Ihrem Konto wurde ein Passkey hinzugefügt"
    assert "Hallo Ada," in mail.text and "Hallo Ada," in mail.html
    assert "Ihrem Konto wurde ein Passkey hinzugefügt" in mail.text
    assert "Datenschutz: https://example.com/privacy" in mail.text and ">Datenschutz</a>" in mail.html
    assert 'lang="de"' in mail.html


def test_an_english_recipient_reads_english_under_a_german_page(german_app, mailbox):
    user = add_user(email="ada@example.com", locale="en")
    with german_app.test_request_context(headers={"Accept-Language": "de"}):
        notices.send_password_changed(user)
    assert mailbox.wait_for("ada@example.com").subject == "Your password was changed"


def test_every_factor_change_is_one_whole_sentence():
    kinds, actions = {"totp", "recovery", "webauthn", "passkey", "sms"}, {"added", "removed", "regenerated"}
    assert set(notices.FACTOR_CHANGES) == {(kind, action) for kind in kinds for action in actions}


def test_the_new_sign_in_time_is_in_the_persons_zone_and_language(app, create_user, locales, mailbox):
    user = create_user(email="ada@example.com", locale="de", zoneinfo="Europe/Berlin")
    when = datetime(2026, 12, 7, 13, 5, tzinfo=UTC)

    notices.send_new_sign_in(user, when, Device(browser="Firefox 128", system="Windows 10"), "198.51.100.0/24")

    mail = mailbox.wait_for("ada@example.com")
    with force_locale("de"):
        expected = format_time(when, "Europe/Berlin")
    assert "14:05" in expected and expected in mail.text
    assert "Firefox 128" in mail.text and "Windows 10" in mail.text
    assert locales == ["de"]
