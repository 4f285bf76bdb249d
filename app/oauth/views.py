"""OAuth / OIDC routes. Protocol endpoints answer RFC JSON or redirects; the consent page is a page."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from flask import Response, abort, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app.core.consent import consent_state, grant_consent, record_consent_denied
from app.core.keys import keyring
from app.core.resources import consent_groups, resources_for, scope_for_request, scopes_outside_apis
from app.core.scopes import describe_scope
from app.core.transactions import TransactionAborted, run_with_retry
from app.extensions import csrf, db, limiter
from app.oauth import bp
from app.oauth.authorize import (
    InteractionError,
    Step,
    authorize_url_without,
    decide,
    is_page_error,
    max_age_is_valid,
)
from app.oauth.discovery import DISCOVERY_MAX_AGE, JWKS_MAX_AGE, JWKS_PATH, WELL_KNOWN_PATHS, openid_configuration
from app.oauth.forms import ConsentForm
from app.oauth.grants import authorization_server
from app.oauth.response_mode import check_response_mode, code_response, error_response
from app.oauth.userinfo import userinfo_response
from app.web.headers import allow_client_logos
from app.web.next_url import remember_next
from app.web.views import request_origin

_UNSUPPORTED_OBJECTS = {"request": "request_not_supported", "request_uri": "request_uri_not_supported"}


def _error_page(error: OAuth2Error | None = None, *, status: int = 400, title: str | None = None, text: str | None = None):
    page = render_template(
        "oauth/error.html",
        title=title or gettext("This sign-in link can't be used"),
        text=text or (error.description if error is not None else gettext("The request was not valid.")),
        error=error.error if error is not None else "invalid_request",
    )
    return page, status


def _validated_grant():
    """Authlib validates client, redirect URI, response type, scope and PKCE; raises OAuth2Error."""
    grant = authorization_server().get_consent_grant(request=request, end_user=None)
    # Authlib refuses a repeated client_id, redirect_uri, response_type, scope or state (error page);
    # any other repeated parameter (nonce, code_challenge, prompt, ...) is as ambiguous (RFC 6749 3.1).
    repeated = sorted(name for name, values in request.values.lists() if len(values) > 1 and name != "resource")
    if repeated:
        raise InteractionError(
            "invalid_request", f"Repeated parameter '{repeated[0]}'.", grant.redirect_uri, request.values.get("state")
        )
    for parameter, error in _UNSUPPORTED_OBJECTS.items():
        if request.values.get(parameter):
            raise InteractionError(
                error, f"The '{parameter}' parameter is not supported.", grant.redirect_uri, request.values.get("state")
            )
    # RFC 8707: each resource known and allowed (invalid_target); an API's scopes only with its resource.
    state = request.values.get("state")
    identifiers = request.values.getlist("resource")
    resources_for(grant.client, identifiers, redirect_uri=grant.redirect_uri, state=state)
    grant.request.scope = scope_for_request(grant.request.scope or "", identifiers)
    if not grant.request.scope:
        # Nothing requested, or nothing this client may have (RFC 6749 3.3): no code for an empty grant.
        raise InteractionError(
            "invalid_scope",
            "None of the requested scopes is available to this client.",
            grant.redirect_uri,
            request.values.get("state"),
        )
    if not max_age_is_valid(request.values.get("max_age")):
        raise InteractionError(
            "invalid_request", "max_age must be a whole number of seconds.", grant.redirect_uri, request.values.get("state")
        )
    return grant


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@csrf.exempt  # a relying party may POST the request (OIDC Core 3.1.2.1); it reads, it changes nothing
def authorize():
    try:
        grant = _validated_grant()
        check_response_mode(request.values, grant.redirect_uri, request.values.get("state"))
        step = decide(request.values, current_user, grant)
    except OAuth2Error as error:
        return _error_page(error) if is_page_error(error) else error_response(error, request.values)
    if step.kind == Step.LOGIN:
        # The sign-in about to happen satisfies prompt=login and max_age, whether or not someone was signed
        # in: kept, they would send a person who just signed in to the sign-in page a second time.
        next_url = authorize_url_without(request.values, "prompt", "max_age")
        args = {"next": next_url}
        if step.reauthenticate:
            args["reauth"] = "1"
        if request.values.get("login_hint"):
            args["login_hint"] = request.values["login_hint"][:254]
        return redirect(url_for("auth.login", **args))
    if step.kind == Step.UNVERIFIED:
        return _error_page(
            status=403,
            title=gettext("Confirm your email address first"),
            text=gettext(
                "Apps can be connected only to accounts with a confirmed email address. "
                "Use the link we sent you, or ask for a new one from the banner above."
            ),
        )
    if step.kind == Step.STEP_UP:
        remember_next(authorize_url_without(request.values))
        return redirect(url_for("mfa.challenge"))
    if step.kind == Step.CONSENT:
        return _consent_page(grant)
    return _issue_code(grant)


def _consent_page(grant):
    client = grant.client
    scope = grant.request.scope or ""
    resources = resources_for(client, request.values.getlist("resource"))  # checked in _validated_grant
    page = render_template(
        "oauth/consent.html",
        client=client,
        scopes=[(s, describe_scope(s)) for s in scopes_outside_apis(scope)],
        apis=[(api, [(s, describe_scope(s)) for s in names]) for api, names in consent_groups(scope, resources)],
        redirect_host=grant.redirect_uri.split("/")[2] if "://" in grant.redirect_uri else grant.redirect_uri,
        form=ConsentForm(),
        # The original request rides along in the query, so the answer is checked exactly like the request;
        # with it the consent state this page answers, the one-time reference (see grant_consent).
        action=url_for("oauth.consent")
        + "?"
        + urlencode([*_without_answers(request.values), (ANSWERS, consent_state(current_user.user, client))]),
    )
    return allow_client_logos(make_response(page))


ANSWERS = "answers"  # the consent page's one-time reference, in the answer's query


def _without_answers(values) -> list[tuple[str, str]]:
    return [(key, value) for key, value in values.items(multi=True) if key != ANSWERS]


def _issue_code(grant, *, status: int = 302):
    response = authorization_server().create_authorization_response(request=request, grant=grant, grant_user=current_user)
    db.session.commit()
    return code_response(response, grant.redirect_uri, request.values, status=status)


@bp.post("/oauth/authorize/consent")
def consent():
    """The person's answer on the consent page (CSRF-protected); the original request rides in the query."""
    form = ConsentForm()
    if not form.validate_on_submit():
        abort(400)
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=authorize_url_without(request.args, ANSWERS)), code=303)
    try:
        grant = _validated_grant()
        check_response_mode(request.values, grant.redirect_uri, request.args.get("state"))
    except OAuth2Error as error:
        return _error_page(error) if is_page_error(error) else error_response(error, request.values, status=303)
    if not current_user.user.is_email_verified:
        abort(403)
    scope = grant.request.scope or ""
    if form.decision.data != "approve":
        record_consent_denied(current_user.user, grant.client, scope, origin=request_origin())
        db.session.commit()
        denied = InteractionError("access_denied", "The person declined.", grant.redirect_uri, request.args.get("state"))
        return error_response(denied, request.values, status=303)
    if not grant_consent(current_user.user, grant.client, scope, origin=request_origin(), answers=request.args.get(ANSWERS)):
        # This page was answered already (a double submit, another tab): the first answer issued the code.
        db.session.rollback()
        return _error_page(
            status=409,
            title=gettext("You already answered this request"),
            text=gettext("This app's request was already answered, perhaps in another tab. Go back to the app and start again."),
        )
    return _issue_code(grant, status=303)


@bp.post("/oauth/token")
@csrf.exempt
@limiter.exempt
def token():
    if not request.mimetype == "application/x-www-form-urlencoded":
        return jsonify(error="invalid_request", error_description="Send the request as application/x-www-form-urlencoded."), 400
    # Commits the issued tokens, or the revocations a replay triggered (a client-credentials token touched
    # nothing: no commit). A transaction PostgreSQL aborts (deadlock, serialization) runs again from the start.
    try:
        return run_with_retry(lambda: authorization_server().create_token_response(request))
    except TransactionAborted:
        body = jsonify(error="temporarily_unavailable", error_description="The server is busy. Try again.")
        return body, 503, {"Retry-After": "1", "Cache-Control": "no-store"}


@bp.post("/oauth/revoke")
@csrf.exempt
def revoke():
    response = authorization_server().create_endpoint_response("revocation", request)
    db.session.commit()
    return response


@bp.post("/oauth/introspect")
@csrf.exempt
@limiter.exempt
def introspect():
    return authorization_server().create_endpoint_response("introspection", request)


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    return userinfo_response(request)


# GET and HEAD of these are answered from memory by app.web.public_cache; these views fill it.
@bp.get(WELL_KNOWN_PATHS[0])
@bp.get(WELL_KNOWN_PATHS[1])
@limiter.exempt
def discovery():
    return _public_json(openid_configuration(), max_age=DISCOVERY_MAX_AGE)


@bp.get(JWKS_PATH)
@limiter.exempt
def jwks():
    return _public_json(keyring().jwks_json(), max_age=JWKS_MAX_AGE)


def _public_json(body: bytes, *, max_age: int) -> Response:
    response = make_response(body)
    response.mimetype = "application/json"
    # Public metadata: caching is fine (the security-header hook leaves public responses alone).
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)
