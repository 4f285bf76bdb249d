"""Account pages; this first one is the overview a person lands on after signing in."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from app.account import bp
from app.account.apps import connected_apps
from app.account.overview import recent_events
from app.core.factors import has_mfa
from app.core.federation import links_of
from app.core.live_sessions import active_sessions
from app.web.forms import ConfirmForm


@bp.get("/")
@login_required
def overview():
    return render_template(
        "account/overview.html",
        user=current_user.user,
        user_session=current_user.session,
        has_mfa=has_mfa(current_user.user),
        events=recent_events(current_user.user),
        session_count=len(active_sessions(current_user.user, current=current_user.session)),
        app_count=len(connected_apps(current_user.user)),
        linked_accounts=links_of(current_user.user),
        form=ConfirmForm(),
    )
