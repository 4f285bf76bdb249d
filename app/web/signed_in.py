"""What follows every completed sign-in, whichever way it was proven (password, second factor, passkey, social).

Called by the views once a session is fully signed in (not while a second factor is still owed, and not for
a step-up of a session that was signed in already), before they commit.
"""

from __future__ import annotations

from flask import current_app, flash

from app.core.live_sessions import end_sessions_over_limit
from app.models import UserSession
from app.web.views import request_origin


def after_sign_in(user_session: UserSession) -> None:
    """Apply the concurrent-session limit and say which sessions it ended."""
    ended = end_sessions_over_limit(user_session.user, current=user_session, origin=request_origin())
    limit = current_app.config["MAX_SESSIONS_PER_USER"]
    for device in ended:
        flash(
            f"You were signed out of your oldest session, on {device.browser} on {device.system}, because your "
            f"account may be signed in on at most {limit} devices at a time.",
            "info",
        )
