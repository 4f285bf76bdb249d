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


def take_next(default_endpoint: str = "account.overview") -> str:
    """The remembered address, forgotten as it is used; else the default page."""
    return safe_next(session.pop(_NEXT_KEY, None)) or url_for(default_endpoint)


def peek_next() -> str | None:
    """The remembered address, left in place (to carry it across a browser-state reset)."""
    return session.get(_NEXT_KEY)
