"""Whole numbers from a request: ASCII digits within a range, or None. Never an exception, whatever was sent."""

from __future__ import annotations

# Longer than any number a parameter here may hold; refused before int() does any work.
_MAX_DIGITS = 20


def bounded_int(raw: str | None, *, high: int, low: int = 0) -> int | None:
    """`raw` as an int in [low, high], or None for anything else: a sign, spaces, '1.5', '²', 10**30."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_DIGITS:
        return None
    value = int(raw)
    return value if low <= value <= high else None
