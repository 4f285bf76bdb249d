"""UserInfo (OIDC Core 5.3): the access token in the Authorization header only, never the URL.

A Bearer token, or a DPoP-bound one with its proof (RFC 9449 7): ``Authorization: DPoP <token>``
and a ``DPoP`` header signed with the key the token names in ``cnf.jkt``.
"""

from __future__ import annotations

import json

from flask import Request, current_app, jsonify
from werkzeug.wrappers import Response

from app.core.claims import user_claims
from app.core.client_cache import find_client
from app.core.dpop import ALGORITHMS, USE_NONCE, DpopError, current_nonce, endpoint_url, verify_proof
from app.core.issuance import user_can_receive_tokens
from app.core.jwts import sign_userinfo, subject_of, validate_access_token
from app.core.response_encryption import USERINFO_ALG, USERINFO_ENC, USERINFO_SIGNED, MissingEncryptionKey, encrypt_for
from app.extensions import db
from app.models import OAuthClient, User

USERINFO_PATH = "/oauth/userinfo"
_INVALID_TOKEN = "The access token is invalid, expired or revoked."


def _challenge(scheme: str, error: str, description: str, status: int) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    extra = f', algs="{" ".join(ALGORITHMS)}"' if scheme == "DPoP" else ""  # RFC 9449 7.1
    response.headers["WWW-Authenticate"] = f'{scheme} error="{error}", error_description="{description}"{extra}'
    if error == USE_NONCE:
        response.headers["DPoP-Nonce"] = current_nonce()
    return response


def userinfo_response(request: Request) -> Response:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token:
        response = jsonify(error="invalid_request", error_description="Send the access token as a Bearer or DPoP header.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    claims = validate_access_token(token)
    jkt = claims.get("cnf", {}).get("jkt") if claims is not None and isinstance(claims.get("cnf"), dict) else None
    if scheme == "dpop":
        refused = _refused_proof(request, token, jkt)
        if refused is not None:
            return refused
    elif jkt is not None:
        # RFC 9449 7.2: a bound token presented as a bearer token is refused, with the scheme it needs.
        return _challenge("DPoP", "invalid_token", "This access token is DPoP-bound: send it with a DPoP proof.", 401)
    return _claims_response(claims, scheme="DPoP" if scheme == "dpop" else "Bearer")


def _refused_proof(request: Request, token: str, jkt: str | None) -> Response | None:
    """The answer when the DPoP scheme's proof doesn't hold (RFC 9449 7.1); None when it does."""
    if jkt is None:
        return _challenge("DPoP", "invalid_token", "The access token is not DPoP-bound, or is invalid.", 401)
    try:
        proof = verify_proof(
            request.headers.getlist("DPoP"), method=request.method, url=endpoint_url(USERINFO_PATH), access_token=token
        )
    except DpopError as error:
        db.session.rollback()
        return _challenge("DPoP", error.error, error.description, 401)
    db.session.commit()  # the proof's jti, spent
    if proof.jkt != jkt:
        return _challenge("DPoP", "invalid_token", "The DPoP proof is not signed with the token's key.", 401)
    return None


def _claims_response(claims: dict | None, *, scheme: str) -> Response:
    client = find_client(claims.get("client_id")) if claims is not None else None
    if claims is None or "auth_time" not in claims or client is None:
        return _challenge(scheme, "invalid_token", _INVALID_TOKEN, 401)
    if "openid" not in claims.get("scope", "").split():
        return _challenge(scheme, "insufficient_scope", "The token was not issued with the openid scope.", 403)
    user = db.session.get(User, int(claims["sub"])) if claims["sub"].isdigit() else None
    if not user_can_receive_tokens(user):
        return _challenge(scheme, "invalid_token", "The account is not available.", 401)
    response = _userinfo_body(client, {"sub": subject_of(user), **user_claims(user, claims["scope"], client)})
    if scheme == "DPoP" and current_app.config.get("DPOP_NONCE"):
        response.headers["DPoP-Nonce"] = current_nonce()
    return response


def _userinfo_body(client: OAuthClient, claims: dict) -> Response:
    """Plain JSON, or application/jwt: signed, encrypted, or both (nested) as the client registered (5.3.2)."""
    signed, alg = getattr(client, USERINFO_SIGNED, None), getattr(client, USERINFO_ALG, None)
    if not signed and not alg:
        return jsonify(claims)
    body = sign_userinfo(client, claims) if signed else json.dumps(claims)
    if alg:
        try:
            body = encrypt_for(
                client, body.encode("utf-8"), alg=alg, enc=getattr(client, USERINFO_ENC, None), nested=bool(signed)
            )
        except MissingEncryptionKey as error:  # never the claims in the clear when encryption was registered
            response = jsonify(error=error.error, error_description=error.description)
            response.status_code = 400
            return response
    return Response(body, mimetype="application/jwt")
