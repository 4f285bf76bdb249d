"""Pushed authorization requests (RFC 9126; FAPI 2.0 Security Profile 5.3.1).

The client POSTs its authorization request to /oauth/par, authenticated as at the token endpoint; it is
validated exactly as /oauth/authorize would, stored, and named by a one-time request_uri. The browser then
brings only client_id and request_uri to /oauth/authorize: every other front-channel parameter is ignored
(RFC 9126 4), and sign-in, step-up and consent carry those two (authorize_url_without). The request_uri is
spent when the authorization response (a code or an error for the app) is issued.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import current_app, jsonify
from werkzeug.datastructures import MultiDict

from app.core.client_cache import find_client
from app.core.protocol import AUTH_METHODS, PROMPT_LOGIN
from app.core.pushed_requests import consume_pushed, find_pushed, open_pushed, push_request
from app.extensions import db
from app.oauth.authorize import ParamsRequest, PushedParams, validated_grant
from app.oauth.grants import authorization_server
from app.oauth.response_mode import check_response_mode

_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type")
_MAX_PARAMETERS = 50
_MAX_TOTAL_LENGTH = 16384


class InvalidRequestUriError(OAuth2Error):
    """RFC 9101 6.2; no redirect_uri: an unknown request can't be trusted with one, so it is an error page."""

    error = "invalid_request_uri"


def authorization_params(values, signed_in):
    """The parameters an authorization request stands for: its own, or those of the pushed request it names."""
    if "request_uri" not in values:
        return values
    request_uri, client_id = values.get("request_uri"), values.get("client_id")
    client = find_client(client_id) if client_id and len(values.getlist("client_id")) == 1 else None
    pushed = find_pushed(request_uri, client) if client and len(values.getlist("request_uri")) == 1 else None
    if pushed is None:
        raise InvalidRequestUriError("This request is unknown, expired or already used. Go back to the app and start again.")
    pushed = open_pushed(pushed)
    db.session.commit()  # the first arrival sticks whatever this request answers (sign-in, consent, an error)
    params = PushedParams(pushed, client.client_id, request_uri)
    if signed_in.is_authenticated and signed_in.session.auth_time > pushed.opened_at:
        # A sign-in after the request was opened satisfies its prompt=login and max_age, as a plain request's
        # return address drops them (authorize_url_without): kept, the person would be sent to sign in again.
        params.pop("max_age", None)
        rest = [p for p in (params.pop("prompt", None) or "").split() if p != PROMPT_LOGIN]
        if rest:
            params["prompt"] = " ".join(rest)
    return params


def spend(params) -> bool:
    """Spend a pushed request as its authorization response is issued; False: a parallel use spent it first."""
    return not isinstance(params, PushedParams) or consume_pushed(params.pushed)


def pushed_authorization_response(http_request):
    """POST /oauth/par: 201 with the request_uri, or an RFC 6749 JSON error (never a redirect)."""
    try:
        request_uri = _push(http_request)
    except OAuth2Error as error:
        db.session.rollback()
        body = {"error": error.error}
        if error.description:
            body["error_description"] = error.description
        status = error.status_code if error.error == "invalid_client" else 400
        return jsonify(body), status, {"Cache-Control": "no-store"}
    db.session.commit()
    body = {"request_uri": request_uri, "expires_in": current_app.config["PAR_SECONDS"]}
    return jsonify(body), 201, {"Cache-Control": "no-store"}


def _push(http_request) -> str:
    if http_request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidRequestError("Send the request as application/x-www-form-urlencoded.")
    form = http_request.form
    pairs = list(form.items(multi=True))
    if len(pairs) > _MAX_PARAMETERS or sum(len(k) + len(v) for k, v in pairs) > _MAX_TOTAL_LENGTH:
        raise InvalidRequestError("The request has too many or too long parameters.")
    client = _authenticated_client(http_request, form)
    if form.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequestError("client_id does not match the authenticated client.")
    if "request_uri" in form:
        raise InvalidRequestError("request_uri must not be pushed (RFC 9126 2.1).")
    params = [("client_id", client.client_id), *((k, v) for k, v in pairs if k not in (*_CREDENTIALS, "client_id"))]
    multi = MultiDict(params)
    grant = validated_grant(multi, http_request, pushing=True)
    check_response_mode(multi, grant.redirect_uri, multi.get("state"))
    return push_request(client, params, lifetime=current_app.config["PAR_SECONDS"])


def _authenticated_client(http_request, form):
    """The client, by its registered method (RFC 9126 2.1: as at the token endpoint).

    Only the credentials are shown to Authlib: the token endpoint's repeated-parameter rule would refuse
    a repeated resource, which an authorization request may carry (RFC 8707).
    """
    credentials = MultiDict([(k, v) for k, v in form.items(multi=True) if k in ("client_id", *_CREDENTIALS)])
    oauth_request = FlaskOAuth2Request(ParamsRequest(credentials, http_request, form=credentials))
    return authorization_server().authenticate_client(oauth_request, list(AUTH_METHODS), endpoint="pushed_authorization_request")
