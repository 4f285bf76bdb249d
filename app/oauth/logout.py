"""RP-Initiated Logout 1.0: read the request, decide whether and where the browser may go, end the session."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from flask import current_app

from app.core.accounts import sign_out
from app.core.audit import Origin, record_event
from app.core.client_cache import find_client
from app.core.jwts import decode_own_jwt
from app.core.sessions import SessionPolicy
from app.extensions import db
from app.models import OAuthClient, UserSession
from app.models.base import utcnow

# The parameters acted on (ui_locales and logout_hint are ignored), each with a size cap: longer is dropped.
PARAMETER_LIMITS = {"id_token_hint": 4096, "client_id": 64, "post_logout_redirect_uri": 500, "state": 1024}
ID_TOKEN_TYPE = "jwt"  # our ID tokens carry typ JWT; an at+jwt access token is no hint


@dataclass(frozen=True)
class LogoutRequest:
    """What the logout request proves, and the only place the browser may be sent afterwards."""

    params: dict[str, str]  # the parameters within their caps, carried through the confirmation form
    hint: dict | None  # claims of a valid id_token_hint (aud matching client_id when both were sent)
    client: OAuthClient | None  # the enabled client that hint was issued to
    redirect_uri: str | None  # post_logout_redirect_uri registered for that client, with state; else None

    def is_for_session(self, user_session: UserSession | None) -> bool:
        """The hint names this browser's session (sid): the app is tied to this very sign-in."""
        return self.hint is not None and user_session is not None and self.hint.get("sid") == user_session.id


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def decode_id_token_hint(token: str) -> dict | None:
    """One of our ID tokens: kid, that key's algorithm, signature, iss and typ checked; exp may have passed (§2)."""
    claims = decode_own_jwt(token, expected_typ=ID_TOKEN_TYPE, allow_expired=True)
    if claims is None or not isinstance(claims.get("sub"), str) or not _audiences(claims):
        return None
    return claims


def read_logout_request(values) -> LogoutRequest:
    """Validate the parameters; a redirect is allowed only to a URI registered exactly for the hint's client (§3)."""
    params = {}
    for name, limit in PARAMETER_LIMITS.items():
        value = values.get(name)
        if isinstance(value, str) and value and len(value) <= limit:
            params[name] = value
    hint = decode_id_token_hint(params["id_token_hint"]) if "id_token_hint" in params else None
    audiences = _audiences(hint) if hint is not None else []
    if hint is not None and "client_id" in params and params["client_id"] not in audiences:
        hint, audiences = None, []  # §2: client_id must be the hint's audience; a mismatch proves nothing
    client = find_client(audiences[0]) if len(audiences) == 1 else None
    target = params.get("post_logout_redirect_uri")
    redirect_uri = None
    if client is not None and target is not None and target in client.post_logout_redirect_uris:
        redirect_uri = add_params_to_uri(target, {"state": params["state"]}) if "state" in params else target
    return LogoutRequest(params, hint, client, redirect_uri)


def hinted_session_is_live(hint: dict | None) -> bool:
    """Whether the session the hint names (sid) is still signed in, wherever that is."""
    sid = hint.get("sid") if hint else None
    if not isinstance(sid, str) or len(sid) > 32:
        return False
    row = db.session.get(UserSession, sid)
    policy = SessionPolicy.from_config(current_app.config)
    return row is not None and row.is_active(utcnow(), policy.idle, policy.absolute)


def end_session(user_session: UserSession, *, client: OAuthClient | None, confirmed: bool, origin: Origin) -> int:
    """Sign the session out and revoke the refresh tokens issued in it (their access tokens too). Caller commits."""
    revoked = sign_out(user_session, origin=origin)  # the session's refresh tokens end with it
    record_event(
        "oauth.rp_logout",
        origin=origin,
        subject=user_session.user,
        session_id=user_session.id,
        client_id=client.client_id if client else None,
        confirmed=confirmed,
        families_revoked=revoked,
    )
    return revoked
