"""WCAG 2.2 AA on every page of the journeys: axe-core at desktop and phone widths, reflow at 320 px.

axe-core (bundled by axe-playwright-python, injected through the DevTools protocol, so the CSP's
script rules don't apply to it) runs the WCAG 2.0/2.1/2.2 A and AA rules on each page the journeys
reach (tests/e2e/journey_pages.py), one browser context per kind of visitor. At the phone width the
same page is narrowed to 320 px, where nothing may scroll sideways but a data table in its own box
(WCAG 1.4.10). axe can't judge everything: a page also keeps to one autofocus (the first field in
error, else the first field), and the show-password toggle is checked by its own test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e import journey_pages
from tests.e2e.server import LiveServer
from tests.e2e.ui import PASSWORD, new_email, submit_sign_in
from tests.mailbox import Mailbox

pytestmark = pytest.mark.e2e

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
DESKTOP, PHONE, REFLOW = 1280, 390, 320
AXE = Axe()

ContextFactory = Callable[..., BrowserContext]


# Rules axe keeps out of its tag sets (experimental or retired) that WCAG 2.2 AA still asks for:
# accessible names that start with the visible text (2.5.3), ids that are unique (4.1.1 in WCAG 2.0/2.1).
EXTRA_OPTIONS = {"runOnly": {"type": "rule", "values": ["label-content-name-mismatch", "duplicate-id"]}}


def violations(page: Page) -> list[str]:
    """One line per violation: the rule, what it asks, and the elements that break it."""
    found = [rule for options in (AXE_OPTIONS, EXTRA_OPTIONS) for rule in AXE.run(page, options=options).response["violations"]]
    return [
        f"{rule['id']} ({rule['impact']}): {rule['help']}\n    " + "\n    ".join(str(node["target"]) for node in rule["nodes"])
        for rule in found
    ]


# In-page links (an error summary's links to its fields) whose target is missing.
BROKEN_FRAGMENT_LINKS = """[...document.querySelectorAll('a[href^="#"]')]
    .map(link => decodeURIComponent(link.getAttribute('href').slice(1)))
    .filter(id => id && !document.getElementById(id))"""


def sideways_overflow(page: Page) -> int:
    """How far the page itself scrolls sideways; a table scrolling in its own box doesn't count."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def check_page(page: Page, name: str, width: int, problems: list[str]) -> None:
    """axe's verdict, in-page links that land, one autofocus at most, and at a phone width no sideways scrolling at 320 px."""
    page.wait_for_load_state()
    problems += [f"{name} at {width} px: {line}" for line in violations(page)]
    broken = page.evaluate(BROKEN_FRAGMENT_LINKS)
    if broken:
        problems.append(f"{name}: links to #{', #'.join(broken)}, which is not on the page")
    autofocused = page.locator("[autofocus]").count()
    if autofocused > 1:
        problems.append(f"{name}: {autofocused} fields carry autofocus")
    if width == PHONE:
        page.set_viewport_size({"width": REFLOW, "height": 800})
        overflow = sideways_overflow(page)
        if overflow > 0:
            problems.append(f"{name} at {REFLOW} px: the page scrolls sideways by {overflow} px")
        page.set_viewport_size({"width": PHONE, "height": 844})


def walk(new_context: ContextFactory, width: int, pages: Callable[[Page], Iterator[str]], **options) -> None:
    """Check each page a visitor's walk yields, then report every problem found at once."""
    page = new_context(viewport={"width": width, "height": 844}, **options).new_page()
    problems: list[str] = []
    for name in pages(page):
        check_page(page, name, width, problems)
    assert not problems, "accessibility problems:\n" + "\n".join(problems)


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_signed_out_pages_meet_wcag_aa(new_context: ContextFactory, mailbox: Mailbox, width: int) -> None:
    walk(new_context, width, lambda page: journey_pages.signed_out_pages(page, mailbox))


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_second_factor_setup_and_challenge_meet_wcag_aa(new_context: ContextFactory, live_server: LiveServer, width: int) -> None:
    walk(new_context, width, lambda page: journey_pages.second_factor_pages(page, live_server))


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_account_console_consent_and_device_pages_meet_wcag_aa(
    new_context: ContextFactory, live_server: LiveServer, width: int
) -> None:
    walk(new_context, width, lambda page: journey_pages.admin_pages(page, live_server))


def test_the_dark_theme_keeps_aa_contrast(new_context: ContextFactory, mailbox: Mailbox) -> None:
    walk(new_context, DESKTOP, lambda page: journey_pages.signed_out_pages(page, mailbox), color_scheme="dark")


def test_sign_in_focuses_one_field_and_returns_to_the_one_in_error(page: Page) -> None:
    """Enter with an empty password must not put the cursor back in the email field, where the password would go."""
    page.goto("/login")
    expect(page.get_by_label("Email address")).to_be_focused()
    email = new_email()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    expect(page.locator("[autofocus]")).to_have_count(1)
    expect(page.get_by_label("Email address")).to_have_value(email)


def test_a_failed_sign_in_focuses_the_password_and_ties_the_message_to_both_fields(page: Page) -> None:
    submit_sign_in(page, new_email(), "not the right password at all")
    message = page.locator("#login-error")
    expect(message).to_be_visible()
    password = page.get_by_label("Password", exact=True)
    expect(password).to_be_focused()
    said = re.compile("^" + re.escape(message.inner_text().strip()))
    expect(password).to_have_accessible_description(said)
    expect(page.get_by_label("Email address")).to_have_accessible_description(said)


def test_show_password_toggles_the_field_and_says_so(page: Page) -> None:
    page.goto("/login")
    password = page.get_by_label("Password", exact=True)
    password.fill(PASSWORD)
    show = page.get_by_role("button", name="Show password")
    expect(show).to_have_attribute("aria-pressed", "false")
    show.click()
    expect(password).to_have_attribute("type", "text")
    hide = page.get_by_role("button", name="Hide password")
    expect(hide).to_have_attribute("aria-pressed", "true")
    hide.click()
    expect(password).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Show password")).to_be_visible()


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_without_javascript_password_fields_have_no_toggle(new_context: ContextFactory, path: str) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(path)
    expect(page.get_by_role("button", name="Show password")).to_have_count(0)
