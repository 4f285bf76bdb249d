"""How an authorization response (a code or an error) reaches the app: its response_mode.

query (the default for response_type=code) redirects with the parameters in the redirect URI's query;
form_post (OAuth 2.0 Form Post Response Mode) answers a page whose form POSTs them to the redirect URI,
so the code never appears in a URL (history, logs, Referer). Both carry RFC 9207's iss.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri, url_decode
from authlib.oauth2 import OAuth2Error
from flask import current_app, make_response, redirect, render_template
from werkzeug.wrappers import Response

from app.oauth.authorize import InteractionError
from app.web.headers import allow_form_post_to

QUERY = "query"
FORM_POST = "form_post"
RESPONSE_MODES = (QUERY, FORM_POST)

# What a CSP host-source can name (CSP3 host-char): an IPv6 literal such as [::1] can't be allowed in
# form-action, so form_post is refused for it rather than posted without a form-action restriction.
_CSP_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")


def form_post_origin(redirect_uri: str) -> str | None:
    """The redirect URI's origin as a CSP source, or None where form_post can't go (a private-use scheme)."""
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _CSP_HOST.match(parts.hostname):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")


def check_response_mode(params, redirect_uri: str, state: str | None) -> None:
    """Refuse a mode we don't offer (OAuth 2.0 Multiple Response Types 2.1); the refusal goes by query."""
    asked = params.get("response_mode")
    if asked and asked not in RESPONSE_MODES:
        raise InteractionError("invalid_request", "Unsupported 'response_mode': use query or form_post.", redirect_uri, state)
    if asked == FORM_POST and form_post_origin(redirect_uri) is None:
        raise InteractionError(
            "invalid_request", "response_mode=form_post needs an http or https redirect URI.", redirect_uri, state
        )


def delivery_mode(params, redirect_uri: str) -> str:
    """form_post only when asked once, clearly, for a URI a form can post to; anything else goes by query.

    An unknown or repeated mode can't tell us how the app reads its answer: query is the default for
    response_type=code, so the invalid_request saying so is delivered that way.
    """
    asked = params.getlist("response_mode")
    if asked == [FORM_POST] and form_post_origin(redirect_uri) is not None:
        return FORM_POST
    return QUERY


def error_response(error: OAuth2Error, params, *, status: int = 302) -> Response:
    """An error sent to the app (access_denied, login_required, invalid_scope, ...) in the asked mode."""
    fields = [("error", error.error)]
    if error.description:
        fields.append(("error_description", error.description))
    if error.state:
        fields.append(("state", error.state))
    return _respond(error.redirect_uri, fields, params, status=status)


def code_response(issued: Response, redirect_uri: str, params, *, status: int) -> Response:
    """Authlib's answer to an approved request (a redirect carrying the code, or an error) in the asked mode."""
    if not issued.location:
        return issued
    if delivery_mode(params, redirect_uri) == QUERY:
        issued.headers["Location"] = add_params_to_uri(issued.location, {"iss": current_app.config["ISSUER"]})
        issued.status_code = status
        return issued
    return _respond(redirect_uri, _added_fields(issued.location, redirect_uri), params, status=status)


def _added_fields(location: str, redirect_uri: str) -> list[tuple[str, str]]:
    """What Authlib appended to the redirect URI's own query (add_params_to_uri extends it, in order)."""
    own = url_decode(urlsplit(redirect_uri).query)
    pairs = url_decode(urlsplit(location).query)
    if pairs[: len(own)] != own:
        raise ValueError("The authorization response does not extend the redirect URI.")
    return pairs[len(own) :]


def _respond(redirect_uri: str, fields: list[tuple[str, str]], params, *, status: int) -> Response:
    fields = [*fields, ("iss", current_app.config["ISSUER"])]  # RFC 9207, errors too
    if delivery_mode(params, redirect_uri) == QUERY:
        return redirect(add_params_to_uri(redirect_uri, fields), code=status)
    # 200, not a redirect: the browser shows this page, whose script (or Continue button) posts the form.
    response = make_response(render_template("oauth/form_post.html", action=redirect_uri, fields=fields))
    response.headers["Cache-Control"] = "no-store"
    return allow_form_post_to(response, form_post_origin(redirect_uri))
