"""Seeding the live server's database for journeys that start past enrolment: a TOTP factor, an administrator."""

from __future__ import annotations

import pyotp
from sqlalchemy import insert, select, update

from app.core.crypto import seal
from app.models import TotpFactor, User
from app.models.base import utcnow
from tests.e2e.server import LiveServer


def add_totp(server: LiveServer, email: str) -> pyotp.TOTP:
    """A confirmed authenticator app, written straight into the live server's database."""
    secret = pyotp.random_base32(32)
    with server.engine.begin() as connection:
        user_id = connection.scalar(select(User.id).where(User.email == email))
        sealed = seal(secret.encode("ascii"), secret=server.env["IDP_SECRET_KEY"], purpose="totp", context=f"user:{user_id}")
        factor = {"user_id": user_id, "secret_encrypted": sealed, "created_at": utcnow(), "confirmed_at": utcnow()}
        connection.execute(insert(TotpFactor).values(**factor))
    return pyotp.TOTP(secret)


def make_admin_with_totp(server: LiveServer, email: str) -> pyotp.TOTP:
    """The admin role and a confirmed authenticator app."""
    with server.engine.begin() as connection:
        connection.execute(update(User).where(User.email == email).values(is_admin=True, email_verified_at=utcnow()))
    return add_totp(server, email)
