"""All Authlib wiring: the server, its grants bound to the models, PKCE, revocation and introspection."""

from __future__ import annotations

from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, current_app

from app.core.client_cache import find_client
from app.core.issuance import PersonGrant, issue_person_tokens, user_can_receive_tokens
from app.core.protocol import AUTH_METHODS
from app.core.resources import audience_for_grant, requested_resource, scope_for_request
from app.core.revocation import revoke_refresh_family, revoke_tokens_from_code
from app.core.scopes import INVALID_SCOPE_SYNTAX, is_valid_scope
from app.extensions import db
from app.metrics import REPLAYS, count
from app.models import AuthorizationCode, OAuthClient, RefreshToken
from app.models.base import utcnow
from app.oauth.client_assertion import PrivateKeyJWT
from app.oauth.device_grant import DeviceAuthorization, DeviceCodeGrant
from app.oauth.dpop_binding import jkt_for
from app.oauth.machine_grant import ClientCredentialsGrant
from app.oauth.redemption import (
    consume_code,
    consume_refresh_token,
    find_refresh_token,
    lock_code,
    lock_refresh_token,
    record_code_replay,
    record_refresh_replay,
)
from app.oauth.token_endpoints import TokenIntrospection, TokenRevocation
from app.security import new_token, token_digest
from app.web.views import request_origin

CODE_PREFIX = "ac_"


class IdPAuthorizationServer(AuthorizationServer):
    """Authlib's Flask server; clients come from the per-process cache, tokens are persisted by the grants."""

    def query_client(self, client_id):
        return find_client(client_id)

    def save_token(self, token, request):
        """Grants persist what they issue themselves (refresh rows, audit); nothing is left to store here."""

    def get_authorization_grant(self, request):
        try:
            return super().get_authorization_grant(request)
        except UnsupportedResponseTypeError as error:
            if request.payload.response_type:
                raise
            # A missing parameter is invalid_request; unsupported_response_type is for a value we don't offer.
            raise InvalidRequestError("Missing 'response_type' parameter.", redirect_uri=error.redirect_uri) from None

    def authenticate_client(self, request, methods, endpoint="token"):
        _refuse_repeated_parameters(request)
        _refuse_several_credentials(request)
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except ValueError:  # Authlib's Basic parser raises on "Basic " with nothing after it
            raise InvalidClientError(status_code=401, description="Malformed Authorization header.") from None
        if request.auth_method == "none" and request.headers.get("Authorization"):
            # Credentials that failed to verify are a failed authentication, not a public client (RFC 6749 2.3).
            raise InvalidClientError(status_code=401, description="Client authentication failed.")
        return client

    def validate_requested_scope(self, scope):
        """RFC 6749 3.3 grammar at authorize, client_credentials and device authorization: invalid_scope, never dropped."""
        if scope and not is_valid_scope(scope):
            raise InvalidScopeError(INVALID_SCOPE_SYNTAX)
        super().validate_requested_scope(scope)

    def load_config(self, config):
        self.scopes_supported = None  # each client's own scope list is the limit (get_allowed_scope)
        self._error_uris = None


def _refuse_repeated_parameters(request) -> None:
    """RFC 6749 3.1/3.2: request parameters MUST NOT be included more than once (any parameter)."""
    for name, values in request.payload.datalist.items():
        if len(values) > 1 and name != "resource":  # RFC 8707 allows several; each endpoint says how many
            raise InvalidRequestError(f"Repeated parameter '{name}'.")


def _refuse_several_credentials(request) -> None:
    """RFC 6749 2.3: a client MUST NOT use more than one authentication method in a request."""
    form = request.payload.data
    presented = [
        request.headers.get("Authorization", "").lower().startswith("basic "),
        "client_secret" in form,
        "client_assertion" in form,
    ]
    if sum(presented) > 1:
        raise InvalidRequestError("Use one client authentication method per request.")


class S256CodeChallenge(CodeChallenge):
    """PKCE as OAuth 2.1 asks: S256 only, and required unless a confidential client was allowed to skip it."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        request = grant.request
        challenge = request.payload.data.get("code_challenge")
        if not challenge:
            client: OAuthClient = request.client
            if client.is_confidential and client.allow_plain_code_flow:
                return
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode):
        return authorization_code.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def save_authorization_code(self, code, request):
        signed_in = request.user  # browser_session.SignedInUser
        now = utcnow()
        payload = request.payload.data
        resources = list(dict.fromkeys(request.payload.datalist.get("resource", [])))  # checked by the view
        row = AuthorizationCode(
            code_digest=token_digest(code),
            client_id=request.client.id,
            user_id=signed_in.user.id,
            session_id=signed_in.session.id,
            redirect_uri=request.payload.redirect_uri,
            scope=scope_for_request(request.scope or "", resources),
            nonce=payload.get("nonce"),
            code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method"),
            auth_time=signed_in.session.auth_time,
            amr=list(signed_in.session.amr),
            resources=resources,
            dpop_jkt=payload.get("dpop_jkt"),  # checked at authorization (authorize.validated_grant)
            created_at=now,
            expires_at=now + timedelta(seconds=current_app.config["AUTHORIZATION_CODE_TTL"]),
        )
        db.session.add(row)
        return row

    def generate_authorization_code(self):
        return new_token(CODE_PREFIX)

    def query_authorization_code(self, code, client):
        if not code or len(code) > 128:
            return None
        row = db.session.scalar(db.select(AuthorizationCode).where(AuthorizationCode.code_digest == token_digest(code)))
        if row is None or row.client_id != client.id or row.is_expired():
            return None
        # A used code is returned on purpose: PKCE and redirect checks run first, so only a replay
        # that would otherwise have succeeded revokes what the first redemption issued.
        return row

    def delete_authorization_code(self, authorization_code):
        """Codes are consumed (used_at), not deleted: a later replay must still be recognised."""

    def authenticate_user(self, authorization_code):
        user = authorization_code.user
        return user if user_can_receive_tokens(user) else None

    def create_token_response(self):
        code: AuthorizationCode = lock_code(self.request.authorization_code)  # first lock: parallel uses queue here
        client: OAuthClient = self.request.client
        origin = request_origin()
        if code.used_at is None:
            # Before the code is spent: a wrong resource leaves it usable for the right one (invalid_target).
            resource = audience_for_grant(client, requested_resource(self.request), code.resources)
            jkt = jkt_for(client, bound_to=code.dpop_jkt)  # a wrong key leaves the code to its rightful client
        if code.used_at is not None or not consume_code(code):
            revoke_tokens_from_code(code)
            record_code_replay(code, origin=origin)
            raise InvalidGrantError("The authorization code was already used.")
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("The account can't receive tokens now.")
        resources = tuple(code.resources)
        grant = PersonGrant(client, user, code.scope, code.auth_time, code.amr, code.session_id, code.nonce, resources)
        token = issue_person_tokens(
            grant,
            resource=resource,
            origin=origin,
            include_refresh_token=client.check_grant_type("refresh_token"),
            include_id_token=True,
            code=code,
            grant_type=self.GRANT_TYPE,
            dpop_jkt=jkt,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use; a rotated token used again revokes its whole family (RFC 9700 4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        row = find_refresh_token(refresh_token)
        if row is None or row.revoked_at is not None or utcnow() >= row.expires_at:
            return None
        lock_refresh_token(row)  # the family's rows, in id order, before anything else: rotation and revocation queue
        if row.revoked_at is not None:
            return None  # a parallel replay or revocation ended the family while this request waited
        if row.used_at is not None:
            # Rotated already: whoever holds this copy is not the only holder. End the family.
            revoke_refresh_family(row.family_id)
            record_refresh_replay(row, origin=request_origin())
            return None
        return row

    def authenticate_user(self, refresh_token):
        user = refresh_token.user
        return user if user_can_receive_tokens(user) else None

    def create_token_response(self):
        old: RefreshToken = self.request.refresh_token
        client: OAuthClient = self.request.client
        user = self.authenticate_user(old)
        if user is None:
            raise InvalidGrantError("The account can't receive tokens now.")
        resource = audience_for_grant(client, requested_resource(self.request), old.resources)
        jkt = jkt_for(client, bound_to=old.dpop_jkt)  # before rotation: a wrong key spends nothing
        if not consume_refresh_token(old):
            # Lost a race with a parallel use of the same token: that is a replay too.
            revoke_refresh_family(old.family_id)
            count(REPLAYS, token_type="refresh_token")
            raise InvalidGrantError("The refresh token was already used.")
        scope = self.request.payload.scope or old.scope  # narrowing checked by Authlib (_validate_token_scope)
        grant = PersonGrant(client, user, scope, old.auth_time, old.amr, old.session_id, tuple(old.resources))
        token = issue_person_tokens(
            grant,
            resource=resource,
            origin=request_origin(),
            include_refresh_token=True,
            include_id_token=False,
            family_id=old.family_id,
            parent=old,
            grant_type=self.GRANT_TYPE,
            dpop_jkt=jkt,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


def authorization_server() -> IdPAuthorizationServer:
    return current_app.extensions["idp_authorization_server"]


def init_oauth_server(app: Flask) -> None:
    """One server per app: grants and endpoints registered on a shared object would pile up per app."""
    authorization = IdPAuthorizationServer(app)
    app.extensions["idp_authorization_server"] = authorization
    authorization.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    authorization.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    authorization.register_grant(RefreshTokenGrant)
    authorization.register_grant(ClientCredentialsGrant)
    authorization.register_endpoint(TokenRevocation)
    authorization.register_endpoint(TokenIntrospection)
    authorization.register_grant(DeviceCodeGrant)
    authorization.register_endpoint(DeviceAuthorization)
