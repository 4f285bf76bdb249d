"""Every page of the journeys in German and in French, with no English left on it.

The browser asks for German or French (Accept-Language), and the person walks the pages: signed out (sign-in,
its error, sign-up, check-email, reset, error pages), an MFA challenge, and signed in as an administrator
(account, security, console, recovery codes, consent, device). The forms are driven by field names,
which don't change with the language. On each page the visible text and the texts assistive technology
reads (aria-label, placeholder, title, alt, a button's value) are searched for any English message of
the catalogue whose translation differs from it: one left untranslated in a template or a message
built outside gettext shows up here, where the catalogue test can't see it. Each page must also
reflow at 320 px in that language: German words run longer than English ones. A last walk starts at an
app asking for French with `ui_locales` from an English browser: sign-in, challenge and consent are French.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

import pytest
from authlib.common.security import generate_token
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from playwright.sync_api import Page, expect

from app.config import PROJECT_ROOT
from tests.e2e import journey_pages, rp
from tests.e2e.admin import make_admin_with_totp
from tests.e2e.server import LiveServer
from tests.e2e.ui import PASSWORD, new_email
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|<[^>]+>")
# A fragment this long of an English message, found on a page, is English the person reads.
MIN_FRAGMENT = 14
READ_TEXTS = """() => [document.title, document.body.innerText,
    ...[...document.querySelectorAll('[aria-label],[placeholder],[title],img[alt],input[type=submit]')]
        .flatMap(e => [e.getAttribute('aria-label'), e.getAttribute('placeholder'), e.getAttribute('title'),
                       e.getAttribute('alt'), e.tagName === 'INPUT' ? e.value : null])
        .filter(Boolean)].join('\\n')"""


@cache
def catalogue(language: str) -> Catalog:
    with open(PROJECT_ROOT / "translations" / language / "LC_MESSAGES" / "messages.po", "rb") as source:
        return read_po(source, locale=language)


def translated(english: str, language: str) -> str:
    message = catalogue(language).get(english)
    assert message is not None and message.string, f"{english!r} has no {language} translation"
    return message.string


# Each text node and each read-out attribute on its own: a button's "Save" is too short to be a fragment.
READ_PIECES = """() => [...document.querySelectorAll('body *')].flatMap(e => [
    ...[...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent),
    e.getAttribute('aria-label'), e.getAttribute('placeholder'), e.getAttribute('title'), e.getAttribute('alt')])
    .filter(Boolean).map(t => t.trim().replace(/\\s+/g, ' ')).filter(Boolean)"""


@cache
def english_messages(language: str) -> frozenset[str]:
    """Whole English messages without placeholders whose translation differs: "Save", "Cancel", "Sign in".

    One lowercase word ("admin", "none") is left out: on a page it is as likely a name from the data.
    """
    return frozenset(
        message.id
        for message in catalogue(language)
        if isinstance(message.id, str)
        and message.id
        and message.string != message.id
        and not PLACEHOLDER.search(message.id)
        and not (message.id.islower() and " " not in message.id)
    )


@cache
def english_fragments(language: str) -> frozenset[str]:
    """Pieces of the English messages, between placeholders and markup, whose translation is not the same."""
    fragments: set[str] = set()
    for message in catalogue(language):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not message.id or ids[0] in strings:
            continue  # a word both languages share (OAuth, Passkey, E-Mail) is not English left behind
        for text in ids:
            fragments.update(" ".join(piece.split()) for piece in PLACEHOLDER.split(text) if len(piece.strip()) >= MIN_FRAGMENT)
    return frozenset(fragments)


def english_on(page: Page, language: str) -> list[str]:
    text = " ".join(page.evaluate(READ_TEXTS).split())
    found = {fragment for fragment in english_fragments(language) if fragment in text}
    found |= set(page.evaluate(READ_PIECES)) & english_messages(language)
    return sorted(found)


def sign_in_by_field_names(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("main form[action$='/login'] button[type=submit]").click()


def register_by_field_names(page: Page, email: str) -> None:
    page.goto("/register")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form[action$='/register'] button[type=submit]").click()


def signed_out_pages(page: Page, mailbox: Mailbox, language: str, mails: list[str]) -> Iterator[str]:
    """Sign-in (fresh and refused), sign-up, check-email, forgot and reset password, 404 and 400; the mails sent."""
    for name, path in [("sign-in", "/login"), ("sign-up", "/register"), ("forgot-password", "/forgot-password")]:
        page.goto(path)
        yield name
    sign_in_by_field_names(page, new_email(), "not the right password at all")
    expect(page.locator("#login-error")).to_be_visible()
    yield "sign-in-error"
    email = new_email()
    register_by_field_names(page, email)
    expect(page.locator("main form[action$='/register']")).to_have_count(0)
    yield "check-email"
    confirmation = mailbox.wait_for(email, translated("Confirm your email address", language))
    mails.append(f"{confirmation.subject}\n{confirmation.text}")
    page.goto("/forgot-password")
    page.locator("input[name=email]").fill(email)
    page.locator("main form button[type=submit]").click()
    reset = mailbox.wait_for(email, translated("Choose a new password", language))
    mails.append(f"{reset.subject}\n{reset.text}")
    page.goto(reset.link("/reset-password/"))
    expect(page.locator("input[name=password]")).to_be_visible()
    yield "reset-password"
    page.goto("/no-such-page")
    yield "error-404"
    page.goto("/oauth/authorize?response_type=code")
    yield "error-400"


def signed_in_pages(page: Page, server: LiveServer) -> Iterator[str]:
    """An administrator's MFA challenge, account, security, console, new recovery codes, consent and device pages."""
    email = new_email()
    register_by_field_names(page, email)
    totp = make_admin_with_totp(server, email)
    sign_in_by_field_names(page, email, PASSWORD)
    expect(page).to_have_url(journey_pages.CHALLENGE_URL)
    yield "mfa-challenge"
    page.locator("#challenge-totp input[name=totp_code]").fill(totp.now())
    page.locator("#challenge-totp button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    journey_pages.seed_console(server)
    for name, path in journey_pages.ACCOUNT_PAGES + journey_pages.CONSOLE_PAGES:
        response = page.goto(path)
        if response is not None and response.status != 404:
            yield name
    for name, list_path, selector in journey_pages.CONSOLE_ITEMS:
        journey_pages.open_first(page, list_path, selector)
        yield name
    page.goto("/mfa/")
    page.locator("#factor-recovery button[type=submit]").first.click()
    expect(page.locator("main li code, main ol li").first).to_be_visible()
    yield "recovery-codes"
    start_consent(page, server)
    expect(page.locator("form[action*='consent'], form[action*='authorize']").first).to_be_visible()
    yield "consent"
    page.goto("/device")
    yield "device-verification"


def start_consent(page: Page, server: LiveServer) -> None:
    redirect_uri = rp.loopback_redirect_uri()
    client = rp.register_client(server, "Language Check RP", redirect_uri=redirect_uri)
    metadata = rp.discover(server)
    url, _ = rp.rp_session(client).create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(32)
    )
    rp.start_at_rp(page, url)


def check_page(page: Page, name: str, language: str, problems: list[str]) -> None:
    """The page's language attribute, no English message left, and reflow at 320 px in that language."""
    page.wait_for_load_state()
    if page.locator("html").get_attribute("lang") != language:
        problems.append(f"{name}: <html lang={page.locator('html').get_attribute('lang')!r}>")
    problems += [f"{name}: English left: {fragment!r}" for fragment in english_on(page, language)]
    # Longer words than English ("Wiederherstellungscodes") must still reflow at 320 px (WCAG 1.4.10).
    page.set_viewport_size({"width": 320, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{name} at 320 px: the page scrolls sideways by {overflow} px")
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.mark.parametrize(("language", "browser_locale"), [("de", "de-DE"), ("fr", "fr-FR")])
def test_every_page_speaks_the_browsers_language(
    new_context, live_server: LiveServer, mailbox: Mailbox, language: str, browser_locale: str
) -> None:
    page = new_context(locale=browser_locale).new_page()  # Accept-Language: de-DE
    problems: list[str] = []
    mails: list[str] = []
    walks = (signed_out_pages(page, mailbox, language, mails), signed_in_pages(page, live_server))
    for name in (name for walk in walks for name in walk):
        check_page(page, name, language, problems)
    for mail in mails:
        text = " ".join(mail.split())
        subject = mail.split("\n", 1)[0]
        problems += [f"email {subject!r}: English left: {f!r}" for f in english_fragments(language) if f in text]
    assert not problems, f"{language}:\n" + "\n".join(problems)


def test_an_apps_ui_locales_carries_through_sign_in_challenge_and_consent(new_context, live_server: LiveServer) -> None:
    """The browser says English; the app asks for French (OIDC ui_locales): every page of its sign-in is French."""
    page = new_context(locale="en-US").new_page()
    email = new_email()
    register_by_field_names(page, email)
    totp = make_admin_with_totp(live_server, email)
    page.context.clear_cookies()
    client = rp.register_client(live_server, "Appli Démo", redirect_uri=rp.loopback_redirect_uri())
    metadata = rp.discover(live_server)
    url, _ = rp.rp_session(client).create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(32), ui_locales="fr-CA en"
    )
    problems: list[str] = []
    rp.start_at_rp(page, url)
    expect(page.locator("input[name=email]")).to_be_visible()
    check_page(page, "sign-in", "fr", problems)
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form[action*='/login'] button[type=submit]").click()
    expect(page).to_have_url(journey_pages.CHALLENGE_URL)
    check_page(page, "mfa-challenge", "fr", problems)
    page.locator("#challenge-totp input[name=totp_code]").fill(totp.now())
    page.locator("#challenge-totp button[type=submit]").click()
    expect(page.locator("#approve")).to_be_visible()
    check_page(page, "consent", "fr", problems)
    assert not problems, "\n".join(problems)
