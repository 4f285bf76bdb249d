"""Small helpers shared by the page views: request origin, fresh-session redirects."""

from __future__ import annotations

from flask import redirect
from werkzeug.wrappers import Response

from app.core.audit import Origin
from app.net import client_ip, user_agent


def request_origin() -> Origin:
    return Origin(ip_address=client_ip(), user_agent=user_agent())


def see_other(location: str) -> Response:
    """303 after a POST, so the browser follows with GET and never re-sends credentials (BCP 4.12)."""
    return redirect(location, code=303)
