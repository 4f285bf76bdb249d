"""An in-process cache in front of Flask for the few public, identical-for-everyone responses.

Discovery metadata and the JWKS are fetched by every relying party and resource server, often on
each cold start, and their bodies are already serialised once per process. What remained per
request was Flask itself: routing, the request context, the session and limiter hooks, the access
log. This WSGI layer answers a GET or HEAD for a registered path from the last response the Flask
view produced, until that response's freshness runs out, so Flask stays the single place that
builds them (with every security header) and the hot path is a dictionary lookup.

Only 200 responses marked `Cache-Control: public`, without cookies or `Vary`, are kept; anything else passes
through untouched, as do every other method and path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, current_app

from app.core.keys import keys_changed

# Per-request headers of the response that filled the cache; a cached copy must not repeat them.
_PER_REQUEST_HEADERS = {"x-request-id", "date"}


@dataclass(frozen=True)
class _Entry:
    headers: list[tuple[str, str]]
    body: bytes
    etag: str | None
    expires_at: float


class PublicResponseCache:
    """WSGI middleware: `paths` maps a path to how many seconds its response may be reused."""

    def __init__(self, wsgi_app: Callable, paths: dict[str, float]) -> None:
        self.wsgi_app = wsgi_app
        self.paths = paths
        self._entries: dict[str, _Entry] = {}

    def clear(self) -> None:
        """Forget every stored response (after a key rotation, say); the next request refills."""
        self._entries = {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path not in self.paths or method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        entry = self._entries.get(path)
        if entry is None or entry.expires_at <= time.monotonic():
            return self._fill(path, environ, start_response)
        if entry.etag is not None and entry.etag in _listed_etags(environ.get("HTTP_IF_NONE_MATCH", "")):
            start_response("304 Not Modified", [h for h in entry.headers if h[0].lower() != "content-length"])
            return []
        start_response("200 OK", entry.headers)
        return [] if method == "HEAD" else [entry.body]

    def _fill(self, path: str, environ: dict, start_response: Callable) -> Iterable[bytes]:
        captured: dict[str, object] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        chunks = self.wsgi_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        if environ["REQUEST_METHOD"] == "GET" and _storable(captured):
            headers = [h for h in captured["headers"] if h[0].lower() not in _PER_REQUEST_HEADERS]
            etag = next((value for name, value in headers if name.lower() == "etag"), None)
            # Two threads may fill at once; either answer is right, and a dict store is atomic.
            self._entries[path] = _Entry(headers, body, etag, time.monotonic() + self.paths[path])
        return [body]


def _storable(captured: dict[str, object]) -> bool:
    if captured.get("status") != "200 OK":
        return False
    headers = {name.lower(): value for name, value in captured["headers"]}
    # A cookie or a Vary would mean the answer is not the same for everyone.
    if "set-cookie" in headers or "vary" in headers:
        return False
    return headers.get("cache-control", "").startswith("public")


def _listed_etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def public_response_cache(app: Flask) -> PublicResponseCache | None:
    return app.extensions.get("idp_public_cache")


def clear_public_responses() -> None:
    """Drop this app's cached public responses (called when what they show has changed)."""
    cache = public_response_cache(current_app)
    if cache is not None:
        cache.clear()


def _on_keys_changed(_app: Flask) -> None:
    clear_public_responses()


def init_public_cache(app: Flask, paths: dict[str, float]) -> None:
    cache = PublicResponseCache(app.wsgi_app, paths)
    app.wsgi_app = cache
    app.extensions["idp_public_cache"] = cache
    keys_changed.connect(_on_keys_changed)  # a new or retired key must show in the JWKS at once
