"""OAuth / OIDC routes. Protocol endpoints answer RFC JSON or redirects; the consent page is a page."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from flask import Response, abort, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app.core.consent import consent_state, grant_consent, record_consent_denied
from app.core.dpop import DpopError
from app.core.keys import keyring
from app.core.resources import consent_groups, resources_for, scopes_outside_apis
from app.core.scopes import describe_scope
from app.core.transactions import TransactionAborted, run_with_retry
from app.extensions import csrf, db, limiter
from app.oauth import bp
from app.oauth.authorize import (
    InteractionError,
    PushedParams,
    Step,
    authorize_url_without,
    decide,
    is_page_error,
    validated_grant,
)
from app.oauth.discovery import DISCOVERY_MAX_AGE, JWKS_MAX_AGE, JWKS_PATH, WELL_KNOWN_PATHS, openid_configuration
from app.oauth.dpop_binding import dpop_error_response, token_request_proof, with_nonce
from app.oauth.forms import ConsentForm
from app.oauth.grants import authorization_server
from app.oauth.par import InvalidRequestUriError, authorization_params, pushed_authorization_response, spend
from app.oauth.response_mode import check_response_mode, code_response, error_response
from app.oauth.userinfo import userinfo_response
from app.web.headers import allow_client_logos
from app.web.next_url import remember_next
from app.web.views import request_origin


def _error_page(error: OAuth2Error | None = None, *, status: int = 400, title: str | None = None, text: str | None = None):
    page = render_template(
        "oauth/error.html",
        title=title or gettext("This sign-in link can't be used"),
        text=text or (error.description if error is not None else gettext("The request was not valid.")),
        error=error.error if error is not None else "invalid_request",
    )
    return page, status


def _spent_page():
    """A pushed request (RFC 9126) another tab or a parallel request has just answered."""
    db.session.rollback()
    text = gettext("This request was already answered. Go back to the app and start again.")
    return _error_page(InvalidRequestUriError("The request_uri was already used."), text=text)


def _unusable_request_uri(error: OAuth2Error):
    text = gettext("This request is unknown, expired or already used. Go back to the app and start again.")
    return _error_page(error, text=text)


def _to_app(error: OAuth2Error, params, *, status: int = 302):
    """An error the app is told of (in its response mode); it spends a pushed request like a code would."""
    if not spend(params):
        return _spent_page()
    db.session.commit()
    return error_response(error, params, status=status)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@csrf.exempt  # a relying party may POST the request (OIDC Core 3.1.2.1); nothing it changes is the person's
def authorize():
    try:
        params = authorization_params(request.values, current_user)  # a request_uri: the pushed request's
    except OAuth2Error as error:
        return _unusable_request_uri(error)
    try:
        grant = validated_grant(params, request)
        check_response_mode(params, grant.redirect_uri, params.get("state"))
        step = decide(params, current_user, grant)
    except OAuth2Error as error:
        return _error_page(error) if is_page_error(error) else _to_app(error, params)
    if step.kind == Step.LOGIN:
        # The sign-in about to happen satisfies prompt=login and max_age, whether or not someone was signed
        # in: kept, they would send a person who just signed in to the sign-in page a second time.
        next_url = authorize_url_without(params, "prompt", "max_age")
        args = {"next": next_url}
        if step.reauthenticate:
            args["reauth"] = "1"
        if params.get("login_hint"):
            args["login_hint"] = params["login_hint"][:254]
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
        remember_next(authorize_url_without(params))
        return redirect(url_for("mfa.challenge"))
    if step.kind == Step.CONSENT:
        return _consent_page(grant, params)
    return _issue_code(grant, params)


def _consent_page(grant, params):
    client = grant.client
    scope = grant.request.scope or ""
    resources = resources_for(client, params.getlist("resource"))  # checked in validated_grant
    # The original request rides along in the query (a pushed one as its client_id and request_uri), so the
    # answer is checked exactly like the request; with it the consent state this page answers (grant_consent).
    ride_along = params.front_channel if isinstance(params, PushedParams) else _without_answers(params)
    page = render_template(
        "oauth/consent.html",
        client=client,
        scopes=[(s, describe_scope(s)) for s in scopes_outside_apis(scope)],
        apis=[(api, [(s, describe_scope(s)) for s in names]) for api, names in consent_groups(scope, resources)],
        redirect_host=grant.redirect_uri.split("/")[2] if "://" in grant.redirect_uri else grant.redirect_uri,
        form=ConsentForm(),
        action=url_for("oauth.consent") + "?" + urlencode([*ride_along, (ANSWERS, consent_state(current_user.user, client))]),
    )
    return allow_client_logos(make_response(page))


ANSWERS = "answers"  # the consent page's one-time reference, in the answer's query


def _without_answers(values) -> list[tuple[str, str]]:
    return [(key, value) for key, value in values.items(multi=True) if key != ANSWERS]


def _issue_code(grant, params, *, status: int = 302):
    if not spend(params):
        return _spent_page()
    response = authorization_server().create_authorization_response(request=grant.request, grant=grant, grant_user=current_user)
    db.session.commit()
    return code_response(response, grant.redirect_uri, params, status=status)


@bp.post("/oauth/authorize/consent")
def consent():
    """The person's answer on the consent page (CSRF-protected); the original request rides in the query."""
    form = ConsentForm()
    if not form.validate_on_submit():
        abort(400)
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=authorize_url_without(request.args, ANSWERS)), code=303)
    try:
        params = authorization_params(request.values, current_user)
    except OAuth2Error as error:
        return _unusable_request_uri(error)
    try:
        grant = validated_grant(params, request)
        check_response_mode(params, grant.redirect_uri, params.get("state"))
    except OAuth2Error as error:
        return _error_page(error) if is_page_error(error) else _to_app(error, params, status=303)
    if not current_user.user.is_email_verified:
        abort(403)
    scope = grant.request.scope or ""
    if form.decision.data != "approve":
        record_consent_denied(current_user.user, grant.client, scope, origin=request_origin())
        denied = InteractionError("access_denied", "The person declined.", grant.redirect_uri, params.get("state"))
        return _to_app(denied, params, status=303)
    if not grant_consent(current_user.user, grant.client, scope, origin=request_origin(), answers=request.args.get(ANSWERS)):
        # This page was answered already (a double submit, another tab): the first answer issued the code.
        db.session.rollback()
        return _error_page(
            status=409,
            title=gettext("You already answered this request"),
            text=gettext("This app's request was already answered, perhaps in another tab. Go back to the app and start again."),
        )
    return _issue_code(grant, params, status=303)


@bp.post("/oauth/par")
@csrf.exempt
def pushed_authorization_request():
    return pushed_authorization_response(request)


@bp.post("/oauth/token")
@csrf.exempt
@limiter.exempt
def token():
    if not request.mimetype == "application/x-www-form-urlencoded":
        return jsonify(error="invalid_request", error_description="Send the request as application/x-www-form-urlencoded."), 400
    try:
        proof = token_request_proof(request)  # RFC 9449: the grants bind the tokens to its key
    except DpopError as error:
        db.session.rollback()
        return dpop_error_response(error)
    if proof is not None:
        db.session.commit()  # the proof's jti stays spent even if the grant then fails
    # Commits the issued tokens, or the revocations a replay triggered (a client-credentials token touched
    # nothing: no commit). A transaction PostgreSQL aborts (deadlock, serialization) runs again from the start.
    try:
        return with_nonce(run_with_retry(lambda: authorization_server().create_token_response(request)))
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
