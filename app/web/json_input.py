"""One way to read a JSON request body: size-capped, strictly UTF-8, shallow, and never an exception but ours."""

from __future__ import annotations

import json
from typing import Any

from flask import Request, current_app

# Deeper than any document an endpoint here expects; refused before json.loads can recurse into it.
MAX_JSON_DEPTH = 32


class JsonInputError(ValueError):
    """The body was not acceptable JSON; the message says why (safe to show a client)."""


def read_json(request: Request, *, max_bytes: int | None = None, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The parsed body; raises JsonInputError if it is not JSON, too large, too deeply nested or not UTF-8."""
    if not request.is_json:
        raise JsonInputError("Send the body as application/json.")
    limit = max_bytes or current_app.config.get("MAX_CONTENT_LENGTH") or 64 * 1024
    if request.content_length is not None and request.content_length > limit:
        raise JsonInputError(f"The JSON document is larger than {limit} bytes.")
    raw = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH (and, chunked, by app.web.bad_input)
    if len(raw) > limit:
        raise JsonInputError(f"The JSON document is larger than {limit} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonInputError("The JSON document is not UTF-8.") from None
    return loads_guarded(text, max_depth=max_depth)


def loads_guarded(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads with the nesting checked first, NaN and Infinity refused, and every failure a JsonInputError."""
    if nesting_depth(text, stop_after=max_depth) > max_depth:
        raise JsonInputError(f"The JSON document is nested more than {max_depth} levels deep.")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, over-long integers, NaN
        raise JsonInputError("The body is not valid JSON.") from None


def nesting_depth(text: str, *, stop_after: int | None = None) -> int:
    """How deeply arrays and objects nest, brackets inside strings ignored; stops counting past `stop_after`."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_after is not None and deepest > stop_after:
                    break
        elif ch in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
