"""The one place that decides what an authorization request needs next: sign-in, a page, or a code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidClientError
from flask import current_app
from werkzeug.datastructures import MultiDict

from app.core.consent import needs_consent
from app.core.factors import has_mfa
from app.core.protocol import ACR_MFA, PROMPT_CONSENT, PROMPT_LOGIN, PROMPT_NONE
from app.core.pushed_requests import Pushed
from app.core.resources import resources_for, scope_for_request
from app.models.base import utcnow
from app.oauth.grants import authorization_server
from app.web.numbers import bounded_int

# The largest max_age taken (about 68 years); beyond it is refused, not clamped or overflowed (OIDC Core 3.1.2.1).
MAX_AGE_LIMIT = 2**31 - 1
# Request objects (RFC 9101) are not supported; a request_uri names a pushed request (RFC 9126, app/oauth/par.py).
_UNSUPPORTED_OBJECTS = {"request": "request_not_supported"}
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")  # RFC 7638 SHA-256 thumbprint, base64url without padding


class InteractionError(OAuth2Error):
    """OIDC Core 3.1.2.6 errors (login_required, consent_required, ...), sent back to the client."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(description=description, redirect_uri=redirect_uri, state=state)
        self.error = error


class Step(StrEnum):
    """What an authorization request needs next, in the order they are checked."""

    LOGIN = "login"  # sign in (again, with reauthenticate)
    UNVERIFIED = "unverified"  # confirm the email address first
    STEP_UP = "step_up"  # prove a second factor (acr_values asked for MFA)
    CONSENT = "consent"  # approve the app's scopes
    ISSUE = "issue"  # nothing: issue the code


@dataclass(frozen=True)
class Next:
    """What the view should do next, and for LOGIN whether an existing sign-in is too old."""

    kind: Step
    reauthenticate: bool = False


def prompts(params) -> set[str]:
    return set((params.get("prompt") or "").split())


def decide(params, signed_in, grant) -> Next:
    """Sign-in, re-authentication, verified email, consent, then a code (node-oidc-provider's policy, in order)."""
    requested = prompts(params)
    redirect_uri, state = grant.redirect_uri, params.get("state")
    if PROMPT_NONE in requested and len(requested) > 1:
        raise InteractionError("invalid_request", "prompt=none can't be combined with other values.", redirect_uri, state)
    if not signed_in.is_authenticated:
        if PROMPT_NONE in requested:
            raise InteractionError("login_required", "The person is not signed in.", redirect_uri, state)
        return Next(Step.LOGIN)
    if PROMPT_LOGIN in requested or _max_age_exceeded(params, signed_in.session.auth_time):
        if PROMPT_NONE in requested:
            raise InteractionError("login_required", "A fresh sign-in is needed.", redirect_uri, state)
        return Next(Step.LOGIN, reauthenticate=True)
    if not signed_in.user.is_email_verified:
        if PROMPT_NONE in requested:
            raise InteractionError("interaction_required", "The person must confirm their email.", redirect_uri, state)
        return Next(Step.UNVERIFIED)
    if _asks_for_mfa(params) and "mfa" not in signed_in.session.amr and has_mfa(signed_in.user):
        # acr_values is a request, not a demand (OIDC Core 3.1.2.1): a person without any factor gets
        # tokens whose acr says so, and the app decides.
        if PROMPT_NONE in requested:
            raise InteractionError("interaction_required", "A second factor is needed.", redirect_uri, state)
        return Next(Step.STEP_UP)
    client = grant.client
    if PROMPT_CONSENT in requested or needs_consent(signed_in.user, client, grant.request.scope or ""):
        if PROMPT_NONE in requested:
            raise InteractionError("consent_required", "The person has not approved this app.", redirect_uri, state)
        return Next(Step.CONSENT)
    return Next(Step.ISSUE)


def _asks_for_mfa(params) -> bool:
    return ACR_MFA in (params.get("acr_values") or "").split()


def max_age_is_valid(raw: str | None) -> bool:
    """Absent, or whole seconds within MAX_AGE_LIMIT: anything else is invalid_request, never an exception."""
    return raw in (None, "") or bounded_int(raw, high=MAX_AGE_LIMIT) is not None


def _max_age_exceeded(params, auth_time) -> bool:
    max_age = bounded_int(params.get("max_age"), high=MAX_AGE_LIMIT)
    if max_age is None:
        return False  # absent (an invalid max_age is refused before: see max_age_is_valid)
    return utcnow() - auth_time > timedelta(seconds=max_age)


def is_page_error(error: OAuth2Error) -> bool:
    """Errors that must not redirect: unknown client or an unvalidated redirect URI (RFC 6749 4.1.2.1)."""
    return isinstance(error, InvalidClientError) or not getattr(error, "redirect_uri", None)


def authorize_url_without(params, *drop: str, **extra: str) -> str:
    """The authorization URL to come back to after sign-in, minus what sign-in has just satisfied.

    A pushed request comes back as its client_id and request_uri only: its parameters stay on the server,
    and a sign-in after it was opened satisfies its prompt=login and max_age (see app/oauth/par.py).
    """
    if isinstance(params, PushedParams):
        return "/oauth/authorize?" + urlencode([*params.front_channel, *extra.items()])
    kept = [(k, v) for k, v in params.items(multi=True) if k not in drop]
    if "prompt" in drop and params.get("prompt"):
        rest = [p for p in params.get("prompt", "").split() if p != PROMPT_LOGIN]
        if rest:
            kept.append(("prompt", " ".join(rest)))
    kept.extend(extra.items())
    return "/oauth/authorize?" + urlencode(kept)


class PushedParams(MultiDict):
    """The parameters of a pushed request (RFC 9126), standing in for the ones the browser sent."""

    def __init__(self, pushed: Pushed, client_id: str, request_uri: str) -> None:
        super().__init__(pushed.parameters)
        self.pushed = pushed
        self.front_channel = [("client_id", client_id), ("request_uri", request_uri)]


class ParamsRequest:
    """What Authlib's FlaskOAuth2Request reads of a Flask request, with the parameters given."""

    def __init__(self, params, http_request, *, form=None) -> None:
        self.method, self.url, self.headers = http_request.method, http_request.url, http_request.headers
        self.values = params
        self.args = params if form is not None else http_request.args
        self.form = form if form is not None else http_request.form


def validated_grant(params, http_request, *, pushing: bool = False):
    """Authlib validates client, redirect URI, response type, scope and PKCE; raises OAuth2Error.

    ``params`` are the request's own, or a pushed request's (PushedParams); ``pushing`` at the PAR endpoint.
    """
    pushed = isinstance(params, PushedParams) or pushing
    oauth_request = FlaskOAuth2Request(ParamsRequest(params, http_request, form=MultiDict() if pushed else None))
    try:  # Authlib's get_consent_grant, on these parameters rather than on flask.request
        oauth_request.user = None
        grant = authorization_server().get_authorization_grant(oauth_request)
        grant.validate_no_multiple_request_parameter(oauth_request)
        grant.validate_consent_request()
    except OAuth2Error as error:
        error.state = oauth_request.payload.state
        raise
    state = params.get("state")

    def refuse(error: str, description: str):
        return InteractionError(error, description, grant.redirect_uri, state)

    # Authlib refuses a repeated client_id, redirect_uri, response_type, scope or state (error page);
    # any other repeated parameter (nonce, code_challenge, prompt, ...) is as ambiguous (RFC 6749 3.1).
    repeated = sorted(name for name, values in params.lists() if len(values) > 1 and name != "resource")
    if repeated:
        raise refuse("invalid_request", f"Repeated parameter '{repeated[0]}'.")
    for parameter, error in _UNSUPPORTED_OBJECTS.items():
        if params.get(parameter):
            raise refuse(error, f"The '{parameter}' parameter is not supported.")
    if not pushed and _requires_par(grant.client):
        raise refuse("invalid_request", "This client must push its authorization requests (RFC 9126).")
    # RFC 8707: each resource known and allowed (invalid_target); an API's scopes only with its resource.
    identifiers = params.getlist("resource")
    resources_for(grant.client, identifiers, redirect_uri=grant.redirect_uri, state=state)
    grant.request.scope = scope_for_request(grant.request.scope or "", identifiers)
    if not grant.request.scope:
        # Nothing requested, or nothing this client may have (RFC 6749 3.3): no code for an empty grant.
        raise refuse("invalid_scope", "None of the requested scopes is available to this client.")
    if not max_age_is_valid(params.get("max_age")):
        raise refuse("invalid_request", "max_age must be a whole number of seconds.")
    if "dpop_jkt" in params and not _JKT.fullmatch(params["dpop_jkt"]):
        raise refuse("invalid_request", "dpop_jkt must be a base64url SHA-256 JWK thumbprint (RFC 9449 10).")
    return grant


def _requires_par(client) -> bool:
    return bool(client.require_pushed_authorization_requests or current_app.config["REQUIRE_PAR"])
