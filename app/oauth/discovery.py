"""Discovery metadata (OIDC Discovery 1.0, RFC 8414): only what is implemented, serialised once."""

from __future__ import annotations

import json

from flask import current_app

from app.oauth.constants import (
    AUTH_METHODS,
    CLAIMS_SUPPORTED,
    CLIENT_ASSERTION_ALGORITHMS,
    CONFIDENTIAL_AUTH_METHODS,
    PKCE_METHODS,
    RESPONSE_TYPES,
    SCOPE_DESCRIPTIONS,
)


def _metadata(issuer: str) -> dict[str, object]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "scopes_supported": list(SCOPE_DESCRIPTIONS),
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": list(PKCE_METHODS),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": ["urn:idp:acr:pwd", "urn:idp:acr:mfa"],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }


def openid_configuration() -> bytes:
    cache = current_app.extensions.setdefault("idp_discovery", {})
    issuer = current_app.config["ISSUER"]
    if issuer not in cache:
        cache[issuer] = json.dumps(_metadata(issuer), separators=(",", ":")).encode("utf-8")
    return cache[issuer]
