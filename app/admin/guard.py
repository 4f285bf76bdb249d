"""Who may use the console: administrators who proved a second factor within the last hours.

Applied to the whole blueprint (before_request), so no admin route can forget it. Anonymous
people are sent to sign in; signed-in non-admins get 403 and see nothing; an admin whose MFA
proof is missing or too old steps up through the challenge and comes back.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

from app.core.factors import has_mfa
from app.models import UserSession
from app.models.base import utcnow
from app.web.next_url import remember_next


def has_recent_mfa(user_session: UserSession) -> bool:
    window = timedelta(seconds=current_app.config["ADMIN_MFA_MAX_AGE_SECONDS"])
    return "mfa" in user_session.amr and utcnow() - user_session.auth_time <= window


def guard_console():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    if not current_user.user.is_admin:
        abort(403)
    if not has_recent_mfa(current_user.session):
        if not has_mfa(current_user.user):
            return redirect(url_for("mfa.security"))  # made admin during this session: enrol first
        remember_next(request.full_path if request.method == "GET" else url_for("admin.dashboard"))
        return redirect(url_for("mfa.challenge"))
    return None
