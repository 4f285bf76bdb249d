"""Discovery metadata (OIDC Discovery 1.0, RFC 8414): only what is implemented, serialised once."""

from __future__ import annotations

import json

from flask import current_app

from app.core import client_metadata
from app.core.dpop import ALGORITHMS as DPOP_ALGORITHMS
from app.core.protocol import (
    ACR_FEDERATED,
    ACR_MFA,
    ACR_PASSWORD,
    AUTH_METHODS,
    CLAIMS_SUPPORTED,
    CLIENT_ASSERTION_ALGORITHMS,
    CONFIDENTIAL_AUTH_METHODS,
    DEVICE_CODE,
    PKCE_METHODS,
    RESPONSE_TYPES,
)
from app.core.response_encryption import ENCRYPTION_ALGS, ENCRYPTION_ENCS, USERINFO_SIGNING_ALGS
from app.core.scopes import SCOPE_DESCRIPTIONS
from app.oauth.registration import registration_enabled

WELL_KNOWN_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
JWKS_PATH = "/oauth/jwks"
DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300


def public_metadata_lifetimes(config) -> dict[str, float]:
    """How long each process may answer these paths from memory (see app.web.public_cache).

    Discovery depends on configuration only. The JWKS is reused no longer than the key ring's own
    reload interval, so a rotation elsewhere shows up as soon as this process would sign with it.
    """
    jwks_seconds = min(JWKS_MAX_AGE, config["KEY_CACHE_SECONDS"])
    return {**dict.fromkeys(WELL_KNOWN_PATHS, DISCOVERY_MAX_AGE), JWKS_PATH: jwks_seconds}


def _metadata(issuer: str) -> dict[str, object]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "device_authorization_endpoint": f"{issuer}/oauth/device_authorization",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}{JWKS_PATH}",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        # OIDC Back-Channel Logout 1.0 2.1: logout tokens carry sid whenever the ID token did (always, in a session)
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "scopes_supported": list(SCOPE_DESCRIPTIONS),
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": list(USERINFO_SIGNING_ALGS),
        # OIDC Core 10.2: to the client's own key from its registered jwks (jwks_uri is not fetched)
        "id_token_encryption_alg_values_supported": list(ENCRYPTION_ALGS),
        "id_token_encryption_enc_values_supported": list(ENCRYPTION_ENCS),
        "userinfo_encryption_alg_values_supported": list(ENCRYPTION_ALGS),
        "userinfo_encryption_enc_values_supported": list(ENCRYPTION_ENCS),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),  # RFC 9449 5.1
        "code_challenge_methods_supported": list(PKCE_METHODS),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": [ACR_PASSWORD, ACR_FEDERATED, ACR_MFA],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        # request_uri means request objects by reference (OIDC Core 6.2), which stay unsupported; a pushed
        # request's request_uri is announced by its own endpoint (RFC 9126 5).
        "request_uri_parameter_supported": False,
        "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
        "claims_parameter_supported": False,
    }


def openid_configuration() -> bytes:
    cache = current_app.extensions.setdefault("idp_discovery", {})
    issuer = current_app.config["ISSUER"]
    if issuer not in cache:
        metadata = _metadata(issuer)
        metadata["require_pushed_authorization_requests"] = bool(current_app.config["REQUIRE_PAR"])
        if registration_enabled(current_app.config):  # advertised only when a client could use it
            metadata["registration_endpoint"] = f"{issuer}/oauth/register"
        if client_metadata.enabled(current_app.config):  # draft-ietf-oauth-client-id-metadata-document
            metadata["client_id_metadata_document_supported"] = True
        cache[issuer] = json.dumps(metadata, separators=(",", ":")).encode("utf-8")
    return cache[issuer]
