"""Small helpers for web tests that build their own apps with ``app_factory``."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import User
from app.models.base import utcnow
from app.security import hash_password
from tests.conftest import DEFAULT_PASSWORD, csrf_from


def add_user(app: Flask, email: str, password: str = DEFAULT_PASSWORD, **columns: object) -> int:
    """Create a verified account in ``app``'s database; returns its id."""
    with app.app_context():
        user = User(email=email, password_hash=hash_password(password), email_verified_at=utcnow(), **columns)
        db.session.add(user)
        db.session.commit()
        return user.id


def post_form(client: FlaskClient, path: str, data: dict[str, str], *, ip: str = "127.0.0.1", base_url: str = "http://localhost"):
    """GET the page for its CSRF token, then POST the form from ``ip``."""
    page = client.get(path, base_url=base_url, environ_base={"REMOTE_ADDR": ip})
    token = csrf_from(page.get_data(as_text=True))
    return client.post(path, base_url=base_url, data={"csrf_token": token, **data}, environ_base={"REMOTE_ADDR": ip})
