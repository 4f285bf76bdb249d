"""RFC 6749 3.3: scope = scope-token *( SP scope-token ); scope-token = 1*( %x21 / %x23-5B / %x5D-7E )."""

from __future__ import annotations

import re

# Token characters and spaces; runs of spaces are tolerated (clients send them, and split() copes).
_SCOPE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# Authlib refuses quotes and backslashes in an error_description (RFC 6749 5.2), so this names them in words.
INVALID_SCOPE_SYNTAX = "Scope tokens are printable ASCII without quotes, backslashes or control characters (RFC 6749 3.3)."


def is_valid_scope(scope: str) -> bool:
    """False when the scope holds a quote, a backslash, a control character, a tab or anything non-ASCII."""
    return _SCOPE.fullmatch(scope) is not None
