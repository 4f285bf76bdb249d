"""The revocation (RFC 7009) and introspection (RFC 7662) endpoints: what a presented token is, and its fate."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import (
    InvalidRequestError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from app.core import deny_list
from app.core.client_cache import find_client
from app.core.issuance import user_can_receive_tokens
from app.core.jwts import ACCESS_TOKEN_TYPE, decode_own_jwt
from app.core.protocol import AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from app.core.resources import introspection_allowed
from app.metrics import INTROSPECTIONS, count
from app.models import OAuthClient, RefreshToken
from app.oauth.redemption import (
    find_refresh_token,
    introspection_payload,
    revoke_token_object,
)
from app.web.views import request_origin


class AccessTokenClaims:
    """An access JWT seen through Authlib's TokenMixin, for revocation and introspection."""

    def __init__(self, claims: dict) -> None:
        self.claims = claims

    def check_client(self, client: OAuthClient) -> bool:
        return self.claims.get("client_id") == client.client_id

    def get_scope(self) -> str:
        return self.claims.get("scope", "")

    def is_expired(self) -> bool:
        return False  # decode_own_jwt already refused expired tokens

    def is_revoked(self) -> bool:
        # A deleted or disabled client's tokens end with it; machine tokens have no row to deny-list.
        return deny_list.is_denied(self.claims["jti"]) or find_client(self.claims.get("client_id")) is None


def _query_any_token(token_string: str, hint: str | None):
    """Look a token up by its shape: JWT access token or opaque refresh token (the hint is only a hint)."""
    if token_string.count(".") == 2:
        claims = decode_own_jwt(token_string, expected_typ=ACCESS_TOKEN_TYPE)
        return AccessTokenClaims(claims) if claims and claims.get("jti") else None  # no jti: not revocable, not ours
    return find_refresh_token(token_string)


def _require_token_param(request) -> None:
    """Only ``token`` is required; an unknown token_type_hint is ignored, not refused (RFC 7009 2.1, RFC 7662 2.1)."""
    if "token" not in request.form:
        raise InvalidRequestError("Missing 'token' parameter.")


class TokenRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def check_params(self, request, client):
        _require_token_param(request)

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 2.2: a token of another client is treated like an unknown one (200, nothing revoked).
        return token if token is not None and token.check_client(client) else None

    def query_token(self, token_string, token_type_hint):
        return _query_any_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        revoke_token_object(token, origin=request_origin())


class TokenIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(CONFIDENTIAL_AUTH_METHODS)

    def check_params(self, request, client):
        _require_token_param(request)

    def query_token(self, token_string, token_type_hint):
        token = _query_any_token(token_string, token_type_hint)
        if isinstance(token, RefreshToken) and not user_can_receive_tokens(token.user):
            return None  # a disabled or locked person's refresh token cannot be used, so it is not active
        if isinstance(token, AccessTokenClaims) and not introspection_allowed(token.claims.get("aud")):
            return None  # RFC 7662 2.2: "active": false reveals nothing about a token we won't describe
        return token

    def check_permission(self, token, client, request):
        # Operator-registered confidential clients (resource servers) may introspect (RFC 7662 2.1);
        # a self-registered client may not read other clients' tokens.
        return client.is_confidential and not client.is_dynamically_registered

    def create_introspection_payload(self, token):
        payload = super().create_introspection_payload(token)
        count(INTROSPECTIONS, result="active" if payload["active"] else "inactive")
        return payload

    def introspect_token(self, token):
        return introspection_payload(token)
