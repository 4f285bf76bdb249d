"""Helpers for the auth flow tests: page text, cookies, forms and fresh reads of the database."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.core import email_tokens
from app.extensions import db
from app.models import EmailToken, EmailTokenPurpose, User, UserSession
from app.models.base import utcnow
from app.security import token_digest
from app.web.errors import TITLES
from tests.conftest import csrf_from

AUTH_COOKIE = "idp_session"
BAD_REQUEST_TITLE, BAD_REQUEST_TEXT = TITLES[400]
# Tokens whose only problem is that nothing issued them; shaped like the real ones.
UNKNOWN_VERIFY_TOKEN = "verify_" + "A" * 43
UNKNOWN_RESET_TOKEN = "reset_" + "A" * 43
# Path tokens no link ever carries: garbage, over the 128-character cap, markup, odd characters.
# (A "/" in the token is a different URL altogether and gets the 404 page.)
JUNK_TOKENS = ["garbage", "x" * 129, "x" * 4000, "<script>alert(1)<script>", "%00", "é" * 20, "' OR '1'='1"]


def text(response: TestResponse) -> str:
    """The page as a person reads it: HTML entities decoded, so messages compare verbatim."""
    return html.unescape(response.get_data(as_text=True))


def without_csrf(page: str) -> str:
    """The page with its per-session CSRF token blanked, so two pages can be compared whole."""
    page = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*', r"\1", page)
    # The passkey script's copy too: the token is timestamped, so two pages a second apart differ there.
    return re.sub(r'(data-csrf=")[^"]*', r"\1", page)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    response = client.get(path)
    assert response.status_code == 200, f"GET {path} gave {response.status_code}"
    return csrf_from(response.get_data(as_text=True))


def post_form(client: FlaskClient, path: str, data: dict[str, Any], *, token_from: str = "/login") -> TestResponse:
    """POST a form the way a browser would: with the CSRF token of a page this client just loaded."""
    return client.post(path, data={"csrf_token": csrf(client, token_from), **data})


def auth_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(AUTH_COOKIE)
    return cookie.value if cookie else None


def auth_set_cookie(response: TestResponse) -> str | None:
    """The Set-Cookie header for the auth cookie, if the response sent one."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{AUTH_COOKIE}="):
            return header
    return None


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    """``name=value; HttpOnly; SameSite=Lax`` → lower-cased attribute names mapped to their values."""
    attributes = {}
    for part in set_cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value
    return attributes


def is_cleared(set_cookie: str | None) -> bool:
    """A Set-Cookie that deletes the cookie: empty value, expiry in 1970."""
    return set_cookie is not None and set_cookie.startswith(f"{AUTH_COOKIE}=;") and "1970" in set_cookie


def client_with_cookie(app, value: str) -> FlaskClient:
    """A browser that has nothing but this auth cookie (a replayed or stolen value)."""
    client = app.test_client()
    client.set_cookie(AUTH_COOKIE, value)
    return client


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/account/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login"), response.status_code
    return False


def reload(obj):
    """The row as committed now. Requests commit in their own sessions; this session may hold stale copies."""
    db.session.rollback()  # ends this session's transaction and expires everything it cached
    db.session.refresh(obj)
    return obj


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def sessions_of(user: User) -> list[UserSession]:
    db.session.rollback()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at)))


def tokens_of(user: User, purpose: EmailTokenPurpose) -> list[EmailToken]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(EmailToken).where(EmailToken.user_id == user.id, EmailToken.purpose == purpose).order_by(EmailToken.id)
        )
    )


def issue_token(user: User, purpose: EmailTokenPurpose) -> str:
    """A link token issued the way the app issues it, without a round trip through the mailbox."""
    token = email_tokens.issue_email_token(user, purpose)
    db.session.commit()
    return token


def expire_token(token: str) -> None:
    row = db.session.scalar(select(EmailToken).where(EmailToken.token_digest == token_digest(token)))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def path_of(link: str, issuer: str) -> str:
    """The local path of an emailed link, checked to point at our issuer and nowhere else."""
    assert link.startswith(issuer + "/"), link
    return link[len(issuer) :]
