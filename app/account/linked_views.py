"""Linked accounts: the provider accounts that can sign the person in; link another, or unlink one."""

from __future__ import annotations

from flask import abort, flash, render_template, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from app.account import bp
from app.core import federation
from app.core.providers import configured_providers, find_provider
from app.core.text import lazy_gettext
from app.extensions import db
from app.web.forms import ConfirmForm
from app.web.fresh_auth import fresh_auth_required
from app.web.notices import send_sign_in_method_notice
from app.web.social import JourneyIntent, begin_journey
from app.web.views import request_origin, see_other

LAST_WAY_IN = lazy_gettext(
    "This is the only way you can sign in. Set a password or link another account first, so that you can still get in."
)


@bp.get("/linked")
@login_required
def linked():
    return _render()


def _render(error: object | None = None, status: int = 200):
    user = current_user.user
    links = federation.links_of(user)
    page = render_template(
        "account/linked.html",
        links=links,
        providers=configured_providers(),
        has_password=bool(user.password_hash),
        # Unlink is offered where it would leave another way in; the POST checks again.
        removable={link.id for link in links if federation.sign_in_methods(user, without_link=link.id)},
        error=error,
    )
    return page, status


@bp.post("/linked/<name>/start")
@login_required
@fresh_auth_required(back_to="account.linked")
def link_start(name: str):
    """Adding a way into the account is a sensitive change: a recent proof first, then off to the provider."""
    provider = find_provider(name) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return begin_journey(provider, JourneyIntent.LINK)


@bp.post("/linked/<int:link_id>/unlink")
@login_required
@fresh_auth_required(back_to="account.linked")
def unlink(link_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = current_user.user
    try:
        link = federation.unlink_identity(user, link_id, origin=request_origin())
    except federation.UnlinkRefused:
        db.session.rollback()
        return _render(LAST_WAY_IN, 409)
    if link is None:
        abort(404)  # another person's link, or none: alike
    db.session.commit()
    provider = find_provider(link.provider)
    name = provider.display_name if provider else link.provider
    send_sign_in_method_notice(user, name, "unlinked")
    flash(
        gettext(
            "Your %(provider)s account %(account)s is unlinked and can no longer sign you in.",
            provider=name,
            account=link.username or link.email,
        ),
        "success",
    )
    return see_other(url_for("account.linked"))
