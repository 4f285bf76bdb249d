"""DPoP at the token endpoint: the view checks the proof once, and every grant asks here which key to bind."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from flask import Request, current_app, g, jsonify
from werkzeug.wrappers import Response

from app.core.dpop import INVALID_PROOF, DpopError, DpopProof, current_nonce, endpoint_url, verify_proof
from app.models import OAuthClient

TOKEN_PATH = "/oauth/token"


class InvalidDpopProofError(OAuth2Error):
    """RFC 9449 5: the token endpoint's error for a missing or unacceptable proof."""

    error = INVALID_PROOF


def token_request_proof(request: Request) -> DpopProof | None:
    """The request's verified proof (kept for the grant), None without a DPoP header; raises DpopError."""
    values = request.headers.getlist("DPoP")
    proof = verify_proof(values, method=request.method, url=endpoint_url(TOKEN_PATH)) if values else None
    g.dpop_proof = proof
    return proof


def dpop_error_response(error: DpopError) -> Response:
    """400 with the RFC 9449 error; a use_dpop_nonce answer carries the nonce to use (RFC 9449 8)."""
    response = jsonify(error=error.error, error_description=error.description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return with_nonce(response)


def with_nonce(response: Response) -> Response:
    """Hand out the current nonce on every answer while nonces are required, so clients stay current."""
    if current_app.config.get("DPOP_NONCE"):
        response.headers["DPoP-Nonce"] = current_nonce()
    return response


def jkt_for(client: OAuthClient, *, bound_to: str | None = None) -> str | None:
    """The key the new tokens are bound to; raises when the client, code or refresh token demands another.

    ``bound_to`` is the jkt a code (dpop_jkt at authorization, RFC 9449 10) or a public client's refresh
    token (RFC 9449 5) was bound to: the proof must be made with that very key.
    """
    proof: DpopProof | None = g.get("dpop_proof")
    if proof is None and client.require_dpop:
        raise InvalidDpopProofError("This client must send a DPoP proof with its token requests.")
    if bound_to is not None and (proof is None or proof.jkt != bound_to):
        raise InvalidGrantError("The grant is bound to another DPoP key.")
    return proof.jkt if proof is not None else None
