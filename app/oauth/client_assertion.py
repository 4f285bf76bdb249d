"""private_key_jwt client authentication (RFC 7523 2.2, OIDC Core 9) with single-use jti."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.core.protocol import CLIENT_ASSERTION_ALGORITHMS
from app.extensions import db
from app.models import OAuthClient, UsedClientAssertion
from app.models.base import utcnow

METHOD = "private_key_jwt"
_MAX_ASSERTION_LENGTH = 8192
# Asymmetric algorithms only: a client's registered public key can never be used as an HMAC secret.
_ALLOWED_ALGORITHMS = set(CLIENT_ASSERTION_ALGORITHMS)


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = METHOD

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def __call__(self, query_client, request):
        assertion = request.form.get("client_assertion") or ""
        if len(assertion) > _MAX_ASSERTION_LENGTH:
            raise InvalidClientError(description="The client assertion is too large.")
        return super().__call__(query_client, request)

    def extract_assertion(self, assertion: str):
        try:
            headers, claims = super().extract_assertion(assertion)
        except RecursionError:  # a deeply nested header or payload: json.loads gives up, so does the client
            raise InvalidClientError(description="Invalid JWT assertion.") from None
        if headers.get("alg") not in _ALLOWED_ALGORITHMS:
            raise InvalidClientError(description="Unsupported client assertion algorithm.")
        if "crit" in headers:
            raise InvalidClientError(description="Critical header parameters are not supported.")
        return headers, claims

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["ISSUER"]
        return [f"{issuer}/oauth/token", f"{issuer}/oauth/par", issuer]  # RFC 9126 2: the PAR endpoint too

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        # Keys come only from the client's registration; jwk/jku/x5u/x5c headers are never consulted.
        if not client.jwks or not isinstance(client.jwks, dict):
            raise InvalidClientError(description="The client has no registered keys.")
        try:
            return KeySet.import_key_set(client.jwks)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidClientError(description="The client's registered keys are unusable.") from exc

    def validate_jti(self, claims, jti) -> bool:
        """Record the jti in a savepoint: a second use (or a parallel twin) hits the primary key."""
        client = current_app.extensions["idp_authorization_server"].query_client(claims["sub"])
        if client is None or not isinstance(jti, str) or not jti or len(jti) > 255:
            return False
        expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC) + timedelta(seconds=self.leeway)
        db.session.execute(delete(UsedClientAssertion).where(UsedClientAssertion.expires_at < utcnow()))
        try:
            with db.session.begin_nested():
                db.session.add(UsedClientAssertion(client_id=client.id, jti=jti, expires_at=expires_at))
        except IntegrityError:
            return False
        return True
