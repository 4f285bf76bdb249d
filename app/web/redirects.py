"""The one check for where a person may be sent after a page: same-origin relative paths only."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_NEXT_LENGTH = 2048


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a local path like ``/oauth/authorize?...``, else None (no open redirect)."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return None
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return None  # browsers treat "\" as "/" and strip tabs/newlines: "/\evil.com" and "/\t/evil.com"
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
