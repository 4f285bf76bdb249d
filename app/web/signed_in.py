"""What follows every completed sign-in, whichever way it was proven (password, second factor, passkey, social).

Called by the views once a session is fully signed in (not while a second factor is still owed, and not for
a step-up of a session that was signed in already), before they commit.
"""

from __future__ import annotations

from flask import after_this_request, current_app, flash, request
from flask_babel import ngettext
from werkzeug.wrappers import Response

from app.core.devices import coarse_network, record_sign_in
from app.core.live_sessions import describe_device, end_sessions_over_limit
from app.models import UserSession
from app.security import new_token
from app.web.notices import send_new_sign_in
from app.web.views import request_origin

DEVICE_COOKIE = "idp_device"
TRUSTED_COOKIE = "idp_trusted"
# As long as browsers keep any cookie (Chrome caps Max-Age at 400 days): it only has to outlive the pruning.
DEVICE_COOKIE_MAX_AGE = 400 * 86400


def after_sign_in(user_session: UserSession) -> None:
    """Apply the concurrent-session limit and say which sessions it ended; mail a sign-in from somewhere new."""
    ended = end_sessions_over_limit(user_session.user, current=user_session, origin=request_origin())
    limit = current_app.config["MAX_SESSIONS_PER_USER"]
    for device in ended:
        flash(
            ngettext(
                "You were signed out of your oldest session, on %(browser)s on %(system)s, because your "
                "account may be signed in on at most %(num)d device at a time.",
                "You were signed out of your oldest session, on %(browser)s on %(system)s, because your "
                "account may be signed in on at most %(num)d devices at a time.",
                limit,
                browser=device.browser,
                system=device.system,
            ),
            "info",
        )
    _note_device(user_session)


def _cookie_name(name: str) -> str:
    # __Host- pins the cookie to this origin under https, as for the auth cookie (app/config.py).
    return ("__Host-" if current_app.config["SESSION_COOKIE_SECURE"] else "") + name


def _device_cookie_name() -> str:
    return _cookie_name(DEVICE_COOKIE)


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="Lax")


def trusted_browser_cookie() -> str | None:
    """The "trust this browser" token this browser holds, if any (app/core/trusted_browsers.py)."""
    return request.cookies.get(_cookie_name(TRUSTED_COOKIE))


def give_trusted_browser_cookie(cookie_value: str) -> None:
    """Send the token with this response; the browser keeps it as long as the trust lasts."""
    max_age = current_app.config["TRUSTED_BROWSER_SECONDS"]

    @after_this_request
    def send(response: Response) -> Response:
        _set_cookie(response, _cookie_name(TRUSTED_COOKIE), cookie_value, max_age)
        return response


def _note_device(user_session: UserSession) -> None:
    """Remember this browser and network for the person; after the commit, mail them if both were new."""
    device_id = request.cookies.get(_device_cookie_name()) or ""
    fresh_cookie = not 32 <= len(device_id) <= 128
    if fresh_cookie:
        device_id = new_token()
    network = coarse_network(user_session.ip_address)
    is_new = record_sign_in(user_session.user, device_id, network)

    @after_this_request
    def finish(response: Response) -> Response:  # runs after the view committed
        if fresh_cookie:
            _set_cookie(response, _device_cookie_name(), device_id, DEVICE_COOKIE_MAX_AGE)
        if is_new:
            send_new_sign_in(user_session.user, user_session.created_at, describe_device(user_session.user_agent), network)
        return response
