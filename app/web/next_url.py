"""The one owner of the return address: where a person goes once a sign-in, challenge or enrolment is done.

Every page that sends a person away to prove something stores the way back here, and the page that
finishes takes it from here. The address is checked when stored and again when used (same-origin
relative paths only, app.web.redirects), so Flask's session never hands out an open redirect.
"""

from __future__ import annotations

from flask import session, url_for

from app.web.redirects import safe_next

_NEXT_KEY = "mfa_next"


def remember_next(next_url: str | None) -> None:
    """Where to go once the proof is given (ignored unless it is a local path)."""
    if safe_next(next_url):
        session[_NEXT_KEY] = next_url


def landing(next_url: str | None) -> str:
    """Where to land: `next_url` when it is a local path, else the account overview."""
    return safe_next(next_url) or url_for("account.overview")


def take_next() -> str:
    """The remembered address, forgotten as it is used; else the account overview."""
    return landing(session.pop(_NEXT_KEY, None))


def peek_next() -> str | None:
    """The remembered address, left in place (to carry it across a browser-state reset)."""
    return session.get(_NEXT_KEY)
