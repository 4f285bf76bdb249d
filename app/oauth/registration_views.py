"""RFC 7591 registration and RFC 7592 configuration endpoints: JSON only, bearer tokens only, never cookies."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app.core.client_cache import client_cache
from app.core.clients import ClientSpecError
from app.extensions import csrf, db, limiter
from app.oauth import bp, registration
from app.web.json_input import JsonInputError, read_json
from app.web.limits import configured
from app.web.views import request_origin


def _json(body: dict, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # secrets and tokens in the body (RFC 7591 3.2.1)
    response.headers["Pragma"] = "no-cache"
    return response


def _error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


def _invalid_token(description: str) -> Response:
    response = _error("invalid_token", description, 401)
    response.headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{description}"'
    return response


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _metadata():
    """The JSON body; a missing, oversized, too deeply nested or broken one is invalid_client_metadata."""
    try:
        return read_json(request)
    except JsonInputError as error:
        raise ClientSpecError(str(error)) from None


@bp.post("/oauth/register")
@csrf.exempt
@limiter.limit(configured("LIMIT_REGISTER_CLIENT_IP"))
def register_client():
    """RFC 7591 3: open registration, or an initial access token; 201 with the one-time secrets."""
    config = current_app.config
    if not registration.registration_enabled(config):
        return _error("access_denied", "Client registration is not enabled on this server.", 403)
    if not registration.may_register(config, _bearer()):
        return _invalid_token("Registration needs a valid initial access token.")
    try:
        registered = registration.register_client(_metadata(), origin=request_origin())
    except ClientSpecError as error:
        db.session.rollback()
        return _error(error.error, str(error))
    db.session.commit()
    client = registered.client
    client_cache().invalidate(client.client_id)
    body = registration.client_information(
        client, registration_token=registered.registration_token, client_secret=registered.client_secret
    )
    return _json(body, 201)


def _registered_client(client_id: str):
    return registration.find_registered_client(client_id, _bearer())


_UNKNOWN = "The registration access token is not valid for this client."


@bp.get("/oauth/register/<client_id>")
@csrf.exempt
def read_client(client_id: str):
    """RFC 7592 2.1."""
    client = _registered_client(client_id)
    if client is None:
        return _invalid_token(_UNKNOWN)
    return _json(registration.client_information(client, registration_token=_bearer()), 200)


@bp.put("/oauth/register/<client_id>")
@csrf.exempt
def update_client(client_id: str):
    """RFC 7592 2.2: replace the metadata; the client secret and registration token are kept."""
    client = _registered_client(client_id)
    if client is None:
        return _invalid_token(_UNKNOWN)
    try:
        registration.update_client(client, _metadata(), origin=request_origin())
    except ClientSpecError as error:
        db.session.rollback()
        return _error(error.error, str(error))
    db.session.commit()
    client_cache().invalidate(client_id)
    return _json(registration.client_information(client, registration_token=_bearer()), 200)


@bp.delete("/oauth/register/<client_id>")
@csrf.exempt
def delete_client(client_id: str):
    """RFC 7592 2.3: tokens revoked, client gone, 204."""
    client = _registered_client(client_id)
    if client is None:
        return _invalid_token(_UNKNOWN)
    registration.delete_client(client, origin=request_origin())
    db.session.commit()
    client_cache().invalidate(client_id)
    response = Response(status=204)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
