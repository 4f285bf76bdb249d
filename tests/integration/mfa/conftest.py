"""Fixtures for the MFA tests: give a person a factor without going through a factor's pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.crypto import seal
from app.extensions import db
from app.models import TotpFactor, User
from app.models.base import utcnow


def add_totp(app: Flask, user: User) -> pyotp.TOTP:
    """A confirmed authenticator-app factor for `user`; returns the TOTP to compute codes with."""
    secret = pyotp.random_base32(32)
    sealed = seal(secret.encode("ascii"), secret=app.config["SECRET_KEY"], purpose="totp", context=f"user:{user.id}")
    db.session.add(TotpFactor(user_id=user.id, secret_encrypted=sealed, confirmed_at=utcnow()))
    db.session.commit()
    return pyotp.TOTP(secret)


@pytest.fixture
def with_totp(app: Flask) -> Callable[[User], pyotp.TOTP]:
    return lambda user: add_totp(app, user)


NEW_CODES_URL = "/mfa/recovery/new"
_CODE = re.compile(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>")


def first_codes_then(client: FlaskClient, then: str) -> list[str]:
    """After the first factor's enrolment: its recovery codes page, shown once, leads on to `then`."""
    page = client.get(NEW_CODES_URL)
    assert page.status_code == 200, page.headers.get("Location")
    html = page.get_data(as_text=True)
    codes = _CODE.findall(html)
    assert len(set(codes)) == 10
    assert f'<a href="{then}" id="recovery-codes-done">' in html
    again = client.get(NEW_CODES_URL)  # shown once: a reload creates nothing and shows nothing
    assert again.status_code == 303 and again.headers["Location"] == "/mfa/"
    return codes
