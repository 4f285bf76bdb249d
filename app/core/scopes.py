"""The one description of each scope, shared by the consent page, the console and the discovery document."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import CustomScope

# OpenID scopes release claims about the person; "offline_access" is how an app asks to stay connected.
SCOPE_DESCRIPTIONS = {
    "openid": "Confirm who you are (your account identifier)",
    "profile": "See your name, language and time zone",
    "email": "See your email address and whether it is confirmed",
    "offline_access": "Stay connected when you are not using it",
    # Released only to clients the operator enabled for it (OAuthClient.roles_claim).
    "roles": "See your roles and groups",
}


def custom_scope_description(name: str) -> str | None:
    """The operator's wording for a custom scope (app.core.rbac creates them), or None."""
    return db.session.scalar(select(CustomScope.description).where(CustomScope.name == name))


def describe_scope(scope: str) -> str:
    """The built-in wording, else the operator's description of a custom scope, else a generic line."""
    if scope in SCOPE_DESCRIPTIONS:
        return SCOPE_DESCRIPTIONS[scope]
    return custom_scope_description(scope) or f"Access “{scope}”"
