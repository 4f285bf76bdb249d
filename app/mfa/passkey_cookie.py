"""The sign-in page's passkey challenge, referenced from its own cookie rather than the Flask session.

Every sign-in page load asks for passkey options (autofill, conditional mediation). Had that answer
rewritten the session cookie, it could arrive after another request of the same page had changed the
session, such as a "Sign in with GitHub" press storing its journey, and wipe that change: the social
sign-in then failed as "started in another window". This cookie is the options answer's only write.
"""

from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from app.mfa.webauthn import CHALLENGE_TTL

_NAME = "idp_passkey"
_MAX_AGE = int(CHALLENGE_TTL.total_seconds())


def _cookie_name() -> str:
    return ("__Host-" if current_app.config["SESSION_COOKIE_SECURE"] else "") + _NAME


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="passkey-challenge")


def hold(response: Response, challenge_id: str) -> Response:
    """Remember which challenge this browser was given (signed: a browser can't name another's)."""
    response.set_cookie(
        _cookie_name(),
        _signer().dumps(challenge_id),
        max_age=_MAX_AGE,
        path="/",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response


def held_challenge_id() -> str | None:
    """The challenge this browser holds, or None (none, expired, or not ours)."""
    value = request.cookies.get(_cookie_name())
    if not value:
        return None
    try:
        challenge_id = _signer().loads(value, max_age=_MAX_AGE)
    except BadSignature:  # SignatureExpired is one too
        return None
    return challenge_id if isinstance(challenge_id, str) else None


def forget(response: Response) -> Response:
    response.delete_cookie(_cookie_name(), path="/", secure=current_app.config["SESSION_COOKIE_SECURE"], samesite="Lax")
    return response
