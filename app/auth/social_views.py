"""Social sign-in: the buttons' start, the providers' callback, and confirming a link after an address collision.

A *journey* (provider, state, intent, where to go next) lives in Flask's signed session from the start to
the callback; one at a time per browser, the newest wins. Intent "login" signs in; intent "link" (started
from the account's linked-accounts page) adds the upstream account to the session that started it.
"""

from __future__ import annotations

import time

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from app.auth import bp
from app.auth import federation
from app.auth.forms import ConfirmForm, SocialStartForm
from app.auth.mail import send_sign_in_method_notice
from app.auth.providers import (
    Provider,
    UpstreamDenied,
    UpstreamFailed,
    authorization_redirect_url,
    complete_authorization,
    find_provider,
    forget_authorization,
)
from app.auth.views import finish_sign_in
from app.browser_session import PENDING_LINK_KEY
from app.extensions import db, limiter
from app.redirects import safe_next
from app.web import request_origin, see_other

_JOURNEY_KEY = "social_journey"
CLOCK_SKEW_SECONDS = 60

MESSAGES = {
    "denied": "You cancelled signing in with {provider}. Nothing was changed.",
    "upstream": "{provider} couldn't sign you in just now. Try again, or sign in another way.",
    "state": "That sign-in with {provider} expired or was started in another window. Please try again.",
    "unverified_email": "{provider} hasn't confirmed an email address for that account, so no account can be "
    "created from it. Confirm your address at {provider}, or create an account with a password.",
    "registration_closed": "No account here is linked to that {provider} account, and new accounts are by "
    "invitation only. Sign in another way, then link {provider} from your account.",
    "disabled": "That account can't sign in right now. Try again in a few minutes, or contact support.",
    "locked": "That account can't sign in right now. Try again in a few minutes, or contact support.",
    "linked_elsewhere": "That {provider} account is already linked to another account here. Unlink it there first.",
    "not_fresh": "{provider} didn't ask you to sign in again, so it can't confirm it's you. "
    "Sign out at {provider} and try again, or sign in another way.",
    "link_session": "Linking {provider} was started from another sign-in. Open your linked accounts and try again.",
    "collision": "You already have an account with {email}. Sign in to it, and then you can link your {provider} account.",
}


def social_message(reason: str, provider: Provider, **values: str) -> str:
    return MESSAGES[reason].format(provider=provider.display_name, **values)


def begin_journey(provider: Provider, intent: str, next_url: str | None = None, *, fresh: bool = False):
    """Send the browser to the provider, remembering what to do when it comes back.

    fresh: a re-authentication (an app's prompt=login or max_age, or a sensitive change here).
    """
    try:
        url, state = authorization_redirect_url(provider, fresh=fresh)
    except UpstreamFailed:
        current_app.logger.warning("social sign-in with %s could not start", provider.name, exc_info=True)
        flash(social_message("upstream", provider), "error")
        return see_other(url_for("account.linked" if intent == "link" else "auth.login"))
    journey = {
        "provider": provider.name,
        "state": state,
        "intent": intent,
        "next": safe_next(next_url),
        "fresh": fresh,
        "started": int(time.time()),
    }
    if intent == "link":
        journey["session_id"] = current_user.session.id
    session[_JOURNEY_KEY] = journey
    return see_other(url)


def _take_journey(provider: Provider) -> dict | None:
    """The journey this callback completes: same provider and state, else None (forged or stale)."""
    journey = session.pop(_JOURNEY_KEY, None)
    state = request.args.get("state")
    if not isinstance(journey, dict) or journey.get("provider") != provider.name or not state or journey.get("state") != state:
        forget_authorization(provider, state)
        return None
    return journey


@bp.post("/social/<name>/start")
@limiter.limit(lambda: current_app.config["LIMIT_LOGIN_IP"])
def social_start(name: str):
    provider = find_provider(name) or abort(404)
    form = SocialStartForm()
    if not form.validate_on_submit():
        abort(400)
    return begin_journey(provider, "login", form.next.data, fresh=form.reauth.data == "1")


@bp.get("/social/<name>/callback")
def social_callback(name: str):
    provider = find_provider(name) or abort(404)
    journey = _take_journey(provider)
    if journey is None:
        return _refused(provider, journey, "state")
    try:
        identity = complete_authorization(provider)
    except UpstreamDenied as denied:
        return _refused(provider, journey, "denied", error=denied.error)
    except UpstreamFailed as failed:
        current_app.logger.warning("social sign-in with %s failed: %s", provider.name, failed)
        return _refused(provider, journey, "upstream")
    if journey["intent"] == "link":
        return _finish_link(provider, identity, journey)
    return _finish_sign_in(provider, identity, journey)


def _refused(provider: Provider, journey: dict | None, reason: str, **details: str):
    """A journey that ends without a sign-in or a link: audited, and explained where it started."""
    federation.record_failure(provider, reason, origin=request_origin(), **details)
    db.session.commit()
    return _back(journey, social_message(reason, provider))


def _back(journey: dict | None, text: str):
    flash(text, "error")
    if journey is not None and journey.get("intent") == "link":
        return see_other(url_for("account.linked"))
    return see_other(url_for("auth.login", next=(journey or {}).get("next")))


def _finish_sign_in(provider: Provider, identity, journey: dict):
    if journey.get("fresh") and not _proved_again(identity, journey):
        return _refused(provider, journey, "not_fresh")
    try:
        outcome = _once_more_on_a_race(federation.sign_in_with, provider, identity)
    except federation.FederationRefused as refused:
        db.session.commit()  # the refusal's audit event stays
        return _back(journey, social_message(refused.reason, provider))
    if isinstance(outcome, federation.PendingLink):
        db.session.commit()
        session[PENDING_LINK_KEY] = outcome.to_session()
        flash(social_message("collision", provider, email=outcome.email), "info")
        # reauth: even a browser already signed in proves the account again before linking.
        return see_other(url_for("auth.login", next=url_for("auth.social_link"), reauth="1", login_hint=outcome.email))
    return finish_sign_in(outcome, journey.get("next"))


def _proved_again(identity, journey: dict) -> bool:
    """A re-authentication must be one: when the provider says when the person signed in (OIDC auth_time),
    that must be after this journey began, give or take clock skew. Providers that don't say can't be held
    to it (GitHub, Discord)."""
    if identity.auth_time is None:
        return True
    return identity.auth_time >= int(journey.get("started") or 0) - CLOCK_SKEW_SECONDS


def _once_more_on_a_race(action, provider: Provider, identity, *args):
    """Two requests creating the same account or link at once (a double click, two tabs): the database's
    unique keys let one win; the other starts over and finds what the winner made."""
    try:
        return action(*args, provider, identity, origin=request_origin())
    except IntegrityError:
        db.session.rollback()
        return action(*args, provider, identity, origin=request_origin())


def _finish_link(provider: Provider, identity, journey: dict):
    if not current_user.is_authenticated or current_user.session.id != journey.get("session_id"):
        return _refused(provider, journey, "link_session")
    return _link_confirmed(provider, identity)


@bp.route("/social/link", methods=["GET", "POST"])
@login_required
def social_link():
    """After an address collision: the person signed in to an account here; link the upstream account to it?"""
    pending = federation.PendingLink.from_session(session.get(PENDING_LINK_KEY))
    provider = find_provider(pending.provider) if pending else None
    if pending is None or provider is None or not pending.is_usable_by(current_user.session):
        session.pop(PENDING_LINK_KEY, None)
        flash("That link request has expired. Start again from your linked accounts.", "info")
        return redirect(url_for("account.linked"))
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        page = render_template("auth/social_link.html", form=form, provider=provider, pending=pending, user=current_user.user)
        return page, 400 if request.method == "POST" else 200
    session.pop(PENDING_LINK_KEY, None)
    if request.form.get("decision") != "link":
        flash(f"Nothing was linked. Your {provider.display_name} account can't be used to sign in here.", "info")
        return see_other(url_for("account.linked"))
    identity = federation.UpstreamIdentity(pending.subject, pending.email, True, pending.username)
    return _link_confirmed(provider, identity)


def _link_confirmed(provider: Provider, identity):
    user = current_user.user
    try:
        link = _once_more_on_a_race(federation.link_identity, provider, identity, user)
    except federation.FederationRefused as refused:
        db.session.commit()
        flash(social_message(refused.reason, provider), "error")
        return see_other(url_for("account.linked"))
    db.session.commit()
    send_sign_in_method_notice(user, provider.display_name, "linked")
    flash(f"Your {provider.display_name} account {link.username or link.email} is linked. You can sign in with it now.", "success")
    return see_other(url_for("account.linked"))
