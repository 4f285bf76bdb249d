"""Social sign-in in the browser: the journey to a provider and back, shared by the sign-in and linked-accounts pages.

A *journey* (provider, state, intent, where to go next) lives in Flask's signed session from the start
to the callback; one at a time per browser, the newest wins. Intent LOGIN signs in; intent LINK (started
from the account's linked-accounts page) adds the upstream account to the session that started it.
The providers themselves (settings, kinds, identities) are app.core.providers'.
"""

from __future__ import annotations

import time
from enum import StrEnum

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app, flash, request, session, url_for
from flask_login import current_user
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from app.core.providers import Provider, UpstreamDenied, UpstreamFailed, UpstreamIdentity
from app.core.text import lazy_gettext
from app.web.redirects import safe_next
from app.web.views import see_other

_JOURNEY_KEY = "social_journey"


class JourneyIntent(StrEnum):
    LOGIN = "login"
    LINK = "link"


# {provider} and {email} are filled in by social_message (str.format), after translation.
MESSAGES = {
    "denied": lazy_gettext("You cancelled signing in with {provider}. Nothing was changed."),
    "upstream": lazy_gettext("{provider} couldn't sign you in just now. Try again, or sign in another way."),
    "state": lazy_gettext("That sign-in with {provider} expired or was started in another window. Please try again."),
    "unverified_email": lazy_gettext(
        "{provider} hasn't confirmed an email address for that account, so no account can be "
        "created from it. Confirm your address at {provider}, or create an account with a password."
    ),
    "registration_closed": lazy_gettext(
        "No account here is linked to that {provider} account, and new accounts are by "
        "invitation only. Sign in another way, then link {provider} from your account."
    ),
    "disabled": lazy_gettext("That account can't sign in right now. Try again in a few minutes, or contact support."),
    "locked": lazy_gettext("That account can't sign in right now. Try again in a few minutes, or contact support."),
    "linked_elsewhere": lazy_gettext("That {provider} account is already linked to another account here. Unlink it there first."),
    "not_fresh": lazy_gettext(
        "{provider} didn't ask you to sign in again, so it can't confirm it's you. "
        "Sign out at {provider} and try again, or sign in another way."
    ),
    "link_session": lazy_gettext("Linking {provider} was started from another sign-in. Open your linked accounts and try again."),
    "collision": lazy_gettext(
        "You already have an account with {email}. Sign in to it, and then you can link your {provider} account."
    ),
}


def social_message(reason: str, provider: Provider, **values: str) -> str:
    """The message as text in the current language (a str, ready for flash)."""
    return str(MESSAGES[reason]).format(provider=provider.display_name, **values)


def begin_journey(provider: Provider, intent: JourneyIntent, next_url: str | None = None, *, fresh: bool = False) -> Response:
    """Send the browser to the provider, remembering what to do when it comes back.

    fresh: a re-authentication (an app's prompt=login or max_age, or a sensitive change here).
    """
    try:
        url, state = authorization_redirect_url(provider, fresh=fresh)
    except UpstreamFailed:
        current_app.logger.warning("social sign-in with %s could not start", provider.name, exc_info=True)
        flash(social_message("upstream", provider), "error")
        return see_other(url_for("account.linked" if intent == JourneyIntent.LINK else "auth.login"))
    journey = {
        "provider": provider.name,
        "state": state,
        "intent": intent,
        "next": safe_next(next_url),
        "fresh": fresh,
        "started": int(time.time()),
    }
    if intent == JourneyIntent.LINK:
        journey["session_id"] = current_user.session.id
    session[_JOURNEY_KEY] = journey
    return see_other(url)


def take_journey(provider: Provider) -> dict | None:
    """The journey this callback completes: same provider and state, else None (forged or stale)."""
    journey = session.pop(_JOURNEY_KEY, None)
    state = request.args.get("state")
    if not isinstance(journey, dict) or journey.get("provider") != provider.name or not state or journey.get("state") != state:
        forget_authorization(provider, state)
        return None
    return journey


def callback_url(provider: Provider) -> str:
    """Built from the configured issuer, never from the request's Host header."""
    return current_app.config["ISSUER"] + url_for("auth.social_callback", name=provider.name)


def authorization_redirect_url(provider: Provider, *, fresh: bool = False) -> tuple[str, str]:
    """The provider's authorization URL and its state; PKCE verifier and nonce are kept in Flask's session.

    fresh: the person must prove themselves again (a re-authentication here); OpenID providers are asked
    to sign them in again (prompt=login) rather than answer from their own session. OAuth-only providers
    (GitHub, Discord) have no such request.
    """
    client = provider.client()
    redirect_uri = callback_url(provider)
    extra = {"prompt": "login"} if fresh and provider.kind.is_oidc else {}
    try:
        data = client.create_authorization_url(redirect_uri, **extra)
    except (requests.RequestException, ValueError) as exc:  # discovery document unreachable or not JSON
        raise UpstreamFailed(f"discovery failed: {type(exc).__name__}") from exc
    _check_issuer(provider, client)
    client.save_authorize_data(redirect_uri=redirect_uri, **data)
    return data["url"], data["state"]


def complete_authorization(provider: Provider) -> UpstreamIdentity:
    """Exchange the callback's code (state, PKCE and nonce checked by Authlib) and read the identity.

    Raises UpstreamDenied for an error the provider sent back, UpstreamFailed for anything unusable.
    """
    client = provider.client()
    try:
        _check_response_issuer(provider, client)  # may load the discovery document in this worker
        token = client.authorize_access_token()
        return provider.kind.identity(client, token)
    except OAuthError as exc:
        if request.args.get("error"):
            raise UpstreamDenied(str(exc.error or "error")[:64]) from exc
        raise UpstreamFailed(f"token: {str(exc.error)[:64]}") from exc
    except (requests.RequestException, JoseError, ValueError, KeyError, TypeError) as exc:
        raise UpstreamFailed(type(exc).__name__) from exc


def forget_authorization(provider: Provider, state: str | None) -> None:
    """Drop what Authlib kept for this state (a callback refused before Authlib saw it)."""
    session.pop(f"_state_{provider.name}_{state}", None)


def _check_issuer(provider: Provider, client) -> None:
    """OIDC Discovery 4.3: the document's issuer must be the one configured (when one is)."""
    expected = provider.settings.get("issuer")
    if expected and provider.kind.is_oidc:
        actual = client.load_server_metadata().get("issuer")
        if actual != expected.rstrip("/") and actual != expected:
            raise UpstreamFailed("the discovery document names another issuer")


def _check_response_issuer(provider: Provider, client) -> None:
    """RFC 9207: an `iss` on the callback must be this provider's issuer (mix-up defence)."""
    sent = request.args.get("iss")
    if sent is None or not provider.kind.is_oidc:
        return
    if sent != client.load_server_metadata().get("issuer"):
        raise UpstreamFailed("the authorization response came from another issuer")
