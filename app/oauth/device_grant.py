"""RFC 8628 on Authlib: the device authorization endpoint and the device_code grant of the token endpoint."""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint
from authlib.oauth2.rfc8628 import DeviceCodeGrant as AuthlibDeviceCodeGrant
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError, ExpiredTokenError, SlowDownError
from flask import current_app

from app.core.issuance import PersonGrant, issue_person_tokens, user_can_receive_tokens
from app.core.protocol import AUTH_METHODS, DEVICE_CODE
from app.core.resources import audience_for_grant, requested_resource, resources_for, scope_for_request
from app.models import DeviceCode, OAuthClient
from app.oauth import device
from app.oauth.dpop_binding import jkt_for
from app.web.views import request_origin

_POLL_ERRORS = {
    device.PollOutcome.PENDING: AuthorizationPendingError,
    device.PollOutcome.SLOW_DOWN: SlowDownError,
    device.PollOutcome.EXPIRED: ExpiredTokenError,
    device.PollOutcome.DENIED: AccessDeniedError,
}


def verification_uri() -> str:
    return f"{current_app.config['ISSUER']}/device"


class DeviceAuthorization(DeviceAuthorizationEndpoint):
    """POST /oauth/device_authorization (RFC 8628 3.1-3.2), authenticated like the token endpoint."""

    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def get_verification_uri(self) -> str:
        return verification_uri()

    def create_endpoint_response(self, request):
        client: OAuthClient = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE):
            raise UnauthorizedClientError("The client may not use the device authorization grant.")
        self.server.validate_requested_scope(request.payload.scope)  # RFC 6749 3.3 grammar: invalid_scope
        scope = device.device_scope(client, request.payload.scope)
        if scope is None:
            raise InvalidScopeError("The client is not registered for the requested scope.")
        identifiers = list(dict.fromkeys(request.payload.datalist.get("resource", [])))
        resources_for(client, identifiers)  # RFC 8707: invalid_target for an unknown or not allowed API
        issued = device.start_device_authorization(client, scope_for_request(scope, identifiers), identifiers)
        uri = self.get_verification_uri()
        body = {
            "device_code": issued.device_code,
            "user_code": issued.user_code,
            "verification_uri": uri,
            "verification_uri_complete": f"{uri}?user_code={issued.user_code}",
            "expires_in": issued.expires_in,
            "interval": issued.interval,
        }
        return 200, body, default_json_headers


class DeviceCodeGrant(AuthlibDeviceCodeGrant):
    """Polling with a device code; tokens exactly once, to the client the code was issued to."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self):
        value = self.request.payload.data.get("device_code")
        if not value:
            raise InvalidRequestError("Missing 'device_code'.")
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the device authorization grant.")
        row = self.query_device_credential(value)
        # Unknown, or issued to another client: both are invalid_grant (RFC 6749 5.2), telling nothing more.
        if row is None or row.client_id != client.id:
            raise InvalidGrantError("The device code is invalid.")
        self.request.client = client
        self.request.credential = row
        self.request.user = self.validate_device_credential(row)

    def query_device_credential(self, device_code):
        return device.find_device_code(device_code)

    def validate_device_credential(self, credential: DeviceCode):
        """One state check instead of Authlib's query_user_grant/should_slow_down pair."""
        outcome = device.poll_device_code(credential)
        if outcome is device.PollOutcome.REDEEMED:
            raise InvalidGrantError("The device code was already used.")
        if outcome is not device.PollOutcome.APPROVED:
            raise _POLL_ERRORS[outcome]()
        return credential.user

    def create_token_response(self):
        row: DeviceCode = self.request.credential
        client: OAuthClient = self.request.client
        # Before the code is spent: a wrong resource leaves it usable for the right one (invalid_target).
        resource = audience_for_grant(client, requested_resource(self.request), row.resources)
        jkt = jkt_for(client)  # before the code is spent: a client that must use DPoP can poll again with a proof
        if not device.redeem_device_code(row):
            # A parallel poll got the tokens first.
            raise InvalidGrantError("The device code was already used.")
        user = self.request.user
        if not user_can_receive_tokens(user):
            raise InvalidGrantError("The account can't receive tokens now.")
        grant = PersonGrant(client, user, row.scope, row.auth_time, list(row.amr), row.session_id, resources=tuple(row.resources))
        token = issue_person_tokens(
            grant,
            resource=resource,
            origin=request_origin(),
            include_refresh_token=client.check_grant_type("refresh_token"),
            include_id_token=True,
            grant_type=self.GRANT_TYPE,
            dpop_jkt=jkt,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
