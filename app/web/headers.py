"""Security headers on every response, and no-store where credentials are shown or taken."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask.wrappers import Response

# No inline script or style anywhere; every asset is served by the app itself.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def allow_client_logos(response: Response) -> Response:
    """Pages that show apps' logos (consent, connected apps): https images are the one third-party asset."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "img-src 'self' data:", "img-src 'self' data: https:"
    )
    return response


def allow_form_post_to(response: Response, origin: str) -> Response:
    """The form_post page (OAuth 2.0 Form Post Response Mode) may post to one app's origin, on that page only.

    `origin` is a CSP source the caller has checked (scheme, host of letters, digits, dots and hyphens, port).
    """
    response.headers["Content-Security-Policy"] = f"{CONTENT_SECURITY_POLICY}; form-action 'self' {origin}"
    return response


def _set_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if current_app.config["ISSUER"].startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static" and "Cache-Control" not in headers:
        # Every page here is about credentials or a signed-in person: never cache. Only public
        # metadata (discovery, JWKS) sets its own Cache-Control.
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    return response


def init_headers(app: Flask) -> None:
    app.after_request(_set_security_headers)
