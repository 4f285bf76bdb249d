"""UserInfo (OIDC Core 5.3): Bearer token in the Authorization header only, never the URL."""

from __future__ import annotations

from flask import Request, jsonify
from werkzeug.wrappers import Response

from app.core.claims import user_claims
from app.core.client_cache import find_client
from app.core.issuance import user_can_receive_tokens
from app.core.jwts import subject_of, validate_access_token
from app.extensions import db
from app.models import User


def _bearer_error(error: str, description: str, status: int) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    return response


def userinfo_response(request: Request) -> Response:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        response = jsonify(error="invalid_request", error_description="Send the access token as a Bearer header.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    claims = validate_access_token(token.strip())
    client = find_client(claims.get("client_id")) if claims is not None else None
    if claims is None or "auth_time" not in claims or client is None:
        return _bearer_error("invalid_token", "The access token is invalid, expired or revoked.", 401)
    if "openid" not in claims.get("scope", "").split():
        return _bearer_error("insufficient_scope", "The token was not issued with the openid scope.", 403)
    user = db.session.get(User, int(claims["sub"])) if claims["sub"].isdigit() else None
    if not user_can_receive_tokens(user):
        return _bearer_error("invalid_token", "The account is not available.", 401)
    return jsonify({"sub": subject_of(user), **user_claims(user, claims["scope"], client)})
