"""The client credentials grant (RFC 6749 4.4): machine tokens, for the IdP or for one API (RFC 8707)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError, UnauthorizedClientError

from app.core.jwts import issue_access_token, token_type
from app.core.protocol import CONFIDENTIAL_AUTH_METHODS
from app.core.resources import requested_resource, resources_for, scope_for_api
from app.metrics import count_token_issued
from app.models import OAuthClient
from app.oauth.dpop_binding import jkt_for
from app.oauth.usage import count_machine_token


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Machine tokens: pure CPU plus a cached client lookup; counted per minute, never a row per token."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_AUTH_METHODS)

    def validate_token_request(self):
        super().validate_token_request()
        if not self.request.client.is_confidential:
            raise UnauthorizedClientError("Only confidential clients may use client_credentials.")

    def create_token_response(self):
        client: OAuthClient = self.request.client
        identifier = requested_resource(self.request)
        resource = resources_for(client, [identifier])[0] if identifier else None
        scope = client.get_allowed_scope(self.request.payload.scope) if self.request.payload.scope else client.scope
        scope = scope_for_api(scope, resource) if resource else scope
        if self.request.payload.scope and not scope:
            raise InvalidScopeError("None of the requested scopes is available to this client.")  # RFC 6749 5.2
        jkt = jkt_for(client)
        access = issue_access_token(client, scope, resource=resource, dpop_jkt=jkt)
        count_machine_token(client)
        count_token_issued(self.GRANT_TYPE, confidential=True)
        token = {"access_token": access.token, "token_type": token_type(jkt), "expires_in": access.expires_in, "scope": scope}
        return 200, token, self.TOKEN_RESPONSE_HEADER
