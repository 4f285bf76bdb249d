"""Fixtures for the MFA tests: give a person a factor without going through a factor's pages."""

from __future__ import annotations

from collections.abc import Callable

import pyotp
import pytest
from flask import Flask

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
