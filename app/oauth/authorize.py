"""The one place that decides what an authorization request needs next: sign-in, a page, or a code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidClientError

from app.core.consent import needs_consent
from app.core.factors import has_mfa
from app.core.protocol import ACR_MFA, PROMPT_CONSENT, PROMPT_LOGIN, PROMPT_NONE
from app.models.base import utcnow
from app.web.numbers import bounded_int

# The largest max_age taken (about 68 years); beyond it is refused, not clamped or overflowed (OIDC Core 3.1.2.1).
MAX_AGE_LIMIT = 2**31 - 1


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
    """The authorization URL to come back to after sign-in, minus what sign-in has just satisfied."""
    kept = [(k, v) for k, v in params.items(multi=True) if k not in drop]
    if "prompt" in drop and params.get("prompt"):
        rest = [p for p in params.get("prompt", "").split() if p != PROMPT_LOGIN]
        if rest:
            kept.append(("prompt", " ".join(rest)))
    kept.extend(extra.items())
    return "/oauth/authorize?" + urlencode(kept)
