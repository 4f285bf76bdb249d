"""Which user claims each scope releases (OIDC Core 5.4)."""

from __future__ import annotations

from app.models import User


def user_claims(user: User, scope: str) -> dict[str, object]:
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
    return claims
