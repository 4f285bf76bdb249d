"""Social sign-in: the buttons' start, the providers' callback, and confirming a link after an address collision.

The journey itself (start, state, intent, the upstream round trip) is app.web.social's.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from app.auth import bp
from app.auth.forms import SocialStartForm
from app.auth.views import finish_sign_in
from app.core import federation
from app.core.providers import Provider, UpstreamDenied, UpstreamFailed, find_provider
from app.extensions import db, limiter
from app.web.browser_session import PENDING_LINK_KEY
from app.web.forms import ConfirmForm
from app.web.limits import configured
from app.web.notices import send_sign_in_method_notice
from app.web.social import JourneyIntent, begin_journey, complete_authorization, social_message, take_journey
from app.web.views import request_origin, see_other

CLOCK_SKEW_SECONDS = 60


@bp.post("/social/<name>/start")
@limiter.limit(configured("LIMIT_LOGIN_IP"))
def social_start(name: str):
    provider = find_provider(name) or abort(404)
    form = SocialStartForm()
    if not form.validate_on_submit():
        abort(400)
    return begin_journey(provider, JourneyIntent.LOGIN, form.next.data, fresh=form.reauth.data == "1")


@bp.get("/social/<name>/callback")
def social_callback(name: str):
    provider = find_provider(name) or abort(404)
    journey = take_journey(provider)
    if journey is None:
        return _refused(provider, journey, "state")
    try:
        identity = complete_authorization(provider)
    except UpstreamDenied as denied:
        return _refused(provider, journey, "denied", error=denied.error)
    except UpstreamFailed as failed:
        current_app.logger.warning("social sign-in with %s failed: %s", provider.name, failed)
        return _refused(provider, journey, "upstream")
    if journey["intent"] == JourneyIntent.LINK:
        return _finish_link(provider, identity, journey)
    return _finish_sign_in(provider, identity, journey)


def _refused(provider: Provider, journey: dict | None, reason: str, **details: str):
    """A journey that ends without a sign-in or a link: audited, and explained where it started."""
    federation.record_failure(provider, reason, origin=request_origin(), **details)
    db.session.commit()
    return _back(journey, social_message(reason, provider))


def _back(journey: dict | None, text: str):
    flash(text, "error")
    if journey is not None and journey.get("intent") == JourneyIntent.LINK:
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
        flash(gettext("That link request has expired. Start again from your linked accounts."), "info")
        return redirect(url_for("account.linked"))
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        page = render_template("auth/social_link.html", form=form, provider=provider, pending=pending, user=current_user.user)
        return page, 400 if request.method == "POST" else 200
    session.pop(PENDING_LINK_KEY, None)
    if request.form.get("decision") != "link":
        flash(
            gettext(
                "Nothing was linked. Your %(provider)s account can't be used to sign in here.",
                provider=provider.display_name,
            ),
            "info",
        )
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
    flash(
        gettext(
            "Your %(provider)s account %(account)s is linked. You can sign in with it now.",
            provider=provider.display_name,
            account=link.username or link.email,
        ),
        "success",
    )
    return see_other(url_for("account.linked"))
