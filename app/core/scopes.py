"""Scopes: the one grammar every scope is checked against, and the one description of each scope shared by the
consent page, the console and the discovery document."""

from __future__ import annotations

import re

from flask_babel import gettext
from sqlalchemy import select

from app.core.text import lazy_gettext
from app.extensions import db
from app.models import CustomScope

# RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), visible ASCII except " and \.
SCOPE_TOKEN_CHARACTERS = r"\x21\x23-\x5b\x5d-\x7e"
# A whole scope: tokens and spaces (runs of spaces are tolerated: clients send them, and split() copes).
_SCOPE = re.compile(rf"[\x20{SCOPE_TOKEN_CHARACTERS}]*")
# Authlib refuses quotes and backslashes in an error_description (RFC 6749 5.2), so this names them in words.
INVALID_SCOPE_SYNTAX = "Scope tokens are printable ASCII without quotes, backslashes or control characters (RFC 6749 3.3)."


def scope_token_pattern(max_length: int) -> re.Pattern[str]:
    """One scope token of at most `max_length` characters (custom scope names, a client's scope list)."""
    return re.compile(rf"^[{SCOPE_TOKEN_CHARACTERS}]{{1,{max_length}}}$")


def is_valid_scope(scope: str) -> bool:
    """False when the scope holds a quote, a backslash, a control character, a tab or anything non-ASCII."""
    return _SCOPE.fullmatch(scope) is not None


# OpenID scopes release claims about the person; "offline_access" is how an app asks to stay connected.
SCOPE_DESCRIPTIONS = {
    "openid": lazy_gettext("Confirm who you are (your account identifier)"),
    "profile": lazy_gettext("See your name, language and time zone"),
    "email": lazy_gettext("See your email address and whether it is confirmed"),
    "offline_access": lazy_gettext("Stay connected when you are not using it"),
    # Released only to clients the operator enabled for it (OAuthClient.roles_claim).
    "roles": lazy_gettext("See your roles and groups"),
}


def custom_scope_description(name: str) -> str | None:
    """The operator's wording for a custom scope (app.core.rbac creates them), or None."""
    return db.session.scalar(select(CustomScope.description).where(CustomScope.name == name))


def describe_scope(scope: str) -> str:
    """The built-in wording, else the operator's description of a custom scope, else a generic line."""
    if scope in SCOPE_DESCRIPTIONS:
        return str(SCOPE_DESCRIPTIONS[scope])
    return custom_scope_description(scope) or gettext("Access “%(scope)s”", scope=scope)
