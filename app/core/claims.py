"""Which user claims each scope releases (OIDC Core 5.4)."""

from __future__ import annotations

from app.core.rbac import effective_role_names, group_names
from app.models import OAuthClient, User

ROLES_SCOPE = "roles"


def role_claims(client: OAuthClient | None, user: User, scope: str) -> dict[str, object]:
    """`roles` and `groups`, only for a client the operator enabled and a grant holding the roles scope."""
    if client is None or not client.roles_claim or ROLES_SCOPE not in scope.split():
        return {}
    return {"roles": effective_role_names(user), "groups": group_names(user)}


def user_claims(user: User, scope: str, client: OAuthClient | None = None) -> dict[str, object]:
    """Claims the scope releases; the roles claims also need the client (see role_claims)."""
    scopes = set(scope.split())
    claims: dict[str, object] = {}
    if "profile" in scopes:
        claims["name"] = user.display_name or user.email.split("@")[0]
        # Optional claims are left out when empty (OIDC Core 5.3.2), never sent as "".
        for claim in ("given_name", "family_name", "locale", "zoneinfo"):
            if getattr(user, claim):
                claims[claim] = getattr(user, claim)
        claims["updated_at"] = int(user.updated_at.timestamp())
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.is_email_verified
    claims.update(role_claims(client, user, scope))
    return claims
