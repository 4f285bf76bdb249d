"""Recovery codes in Chromium: create a set on the security page, download it, sign in with one code."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert, select

from app.core.crypto import seal
from app.mfa.recovery import format_code, new_code
from app.models import RecoveryCode, TotpFactor, User
from app.models.base import utcnow
from app.security import token_digest
from tests.e2e.server import LiveServer
from tests.e2e.ui import ACCOUNT_URL, PASSWORD, new_email, register, sign_out, submit_sign_in

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/mfa/challenge$")
SECURITY_URL = re.compile(r"/mfa/$")
SHOWN = re.compile(r"^[a-z2-9]{4}(-[a-z2-9]{4}){3}$")


def give_factor_and_one_code(server: LiveServer, email: str) -> str:
    """A confirmed authenticator app and one recovery code, written into the live server's database."""
    code = new_code()
    with server.engine.begin() as connection:
        user_id = connection.scalar(select(User.id).where(User.email == email))
        secret = pyotp.random_base32().encode()
        sealed = seal(secret, secret=server.env["IDP_SECRET_KEY"], purpose="totp", context=f"user:{user_id}")
        factor = {"user_id": user_id, "secret_encrypted": sealed, "created_at": utcnow(), "confirmed_at": utcnow()}
        connection.execute(insert(TotpFactor).values(**factor))
        connection.execute(insert(RecoveryCode).values(user_id=user_id, code_digest=token_digest(code), created_at=utcnow()))
    return format_code(code)


def pass_challenge_with_code(page: Page, email: str, code: str) -> None:
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(CHALLENGE_URL)
    page.get_by_label("Recovery code").fill(code)
    page.get_by_role("button", name="Use a recovery code").click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.locator("#account-email")).to_contain_text(email)


def test_codes_are_created_downloaded_and_sign_in_once(page: Page, live_server: LiveServer) -> None:
    email = new_email()
    register(page, email)
    first = give_factor_and_one_code(live_server, email)
    # The seeded code passes the challenge: a fresh second-factor proof, which creating codes needs.
    pass_challenge_with_code(page, email, first)

    page.goto("/mfa/")
    section = page.locator("#factor-recovery")
    expect(section.locator("#recovery-status")).to_contain_text("You have no recovery codes")
    section.get_by_role("button", name="Create recovery codes").click()

    shown = section.get_by_role("list", name="Your new recovery codes").get_by_role("listitem")
    expect(shown).to_have_count(10)
    codes = [text.strip() for text in shown.all_inner_texts()]
    assert len(set(codes)) == 10 and all(SHOWN.match(code) for code in codes)

    # The file is made in the browser from the page (a data: link), so the codes never need storing.
    with page.expect_download() as started:
        section.get_by_role("link", name="Download as text file").click()
    download = started.value
    assert download.suggested_filename.endswith("recovery-codes.txt")
    with open(download.path(), encoding="utf-8") as handle:
        text = handle.read()
    assert email in text and [line for line in text.splitlines() if SHOWN.match(line)] == codes

    # Shown once: the security page afterwards only counts them.
    section.get_by_role("link", name="I've saved them").click()
    expect(page).to_have_url(SECURITY_URL)
    expect(page.locator("#recovery-status")).to_have_text("10 unused recovery codes left.")
    for code in codes:
        expect(page.get_by_text(code)).to_have_count(0)

    sign_out(page)
    pass_challenge_with_code(page, email, codes[4].upper().replace("-", " "))

    # The code is spent, and the one used before the new set never works again.
    sign_out(page)
    for used in (codes[4], first):
        submit_sign_in(page, email, PASSWORD)
        expect(page).to_have_url(CHALLENGE_URL)
        page.get_by_label("Recovery code").fill(used)
        page.get_by_role("button", name="Use a recovery code").click()
        expect(page.get_by_role("alert")).to_contain_text("That recovery code didn't work")
        expect(page).to_have_url(re.compile(r"/mfa/challenge/recovery$"))
        page.get_by_role("button", name="Cancel and sign in as someone else").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
