"""Binds server-side sessions to the browser: the auth cookie, Flask-Login's loader and the response hook."""

from __future__ import annotations

from flask import Flask, current_app, flash, g, request, session
from flask.wrappers import Response
from flask_login import AnonymousUserMixin, current_user

from app.core.sessions import SessionPolicy, cookie_max_age, find_active_session, touch_session
from app.extensions import db, login_manager
from app.models import User, UserSession
from app.web.i18n import UI_LOCALES_KEY
from app.web.messages import message

# An upstream account proven in this browser, waiting for its person to sign in and link it
# (app.core.federation.PendingLink): it must outlive the sign-in that clears the rest of the state.
PENDING_LINK_KEY = "pending_link"
# The app's ui_locales keeps the challenge and consent pages after the password in the app's language.
_CARRIED_ACROSS_SIGN_IN = (PENDING_LINK_KEY, UI_LOCALES_KEY)

_SET = "set"
_CLEAR = "clear"


class SignedInUser:
    """What Flask-Login sees as current_user: the account, and the session row that vouches for it."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User, user_session: UserSession) -> None:
        self.user = user
        self.session = user_session

    def get_id(self) -> str:
        return self.session.id

    def __getattr__(self, name: str):
        return getattr(self.user, name)


class Anonymous(AnonymousUserMixin):
    user = None
    session = None


def _load_from_cookie(_request) -> SignedInUser | None:
    cookie_value = request.cookies.get(current_app.config["AUTH_COOKIE_NAME"])
    if not cookie_value or len(cookie_value) > 128:
        return None
    policy = SessionPolicy.from_config(current_app.config)
    user_session = find_active_session(cookie_value, policy)
    if user_session is None:
        # Revoked, expired or forged: drop the cookie so the browser stops sending it.
        g.auth_cookie_action = (_CLEAR, None, None)
        # Anonymous from here on: choosing the message's language asks who is signed in, which must not
        # run this loader again (it would flash once per nested call).
        g._login_user = Anonymous()
        flash(message("session_ended"), "info")
        return None
    if touch_session(user_session, policy):
        db.session.commit()
    if user_session.pending is not None:
        # Password checked, second factor (or its enrolment) still owed: not signed in anywhere but
        # the MFA pages, which find this row through pending_session().
        g.pending_session = user_session
        return None
    return SignedInUser(user_session.user, user_session)


def pending_session() -> UserSession | None:
    """The browser's partially authenticated session, if that is what its cookie names."""
    current_user._get_current_object()  # runs the cookie loader (once per request; it caches on g)
    return g.get("pending_session")


def attach_to_browser(user: User, user_session: UserSession, cookie_value: str) -> None:
    """After a successful sign-in: new cookie, fresh browser state (no fixation), current_user set."""
    carried = {key: session[key] for key in _CARRIED_ACROSS_SIGN_IN if key in session}
    session.clear()
    session.update(carried)
    g.auth_cookie_action = (_SET, cookie_value, cookie_max_age(user_session))
    if user_session.pending is None:
        g._login_user = SignedInUser(user, user_session)
    else:
        g._login_user = Anonymous()
        g.pending_session = user_session


def detach_from_browser() -> None:
    session.clear()
    g.auth_cookie_action = (_CLEAR, None, None)
    g._login_user = Anonymous()


def _write_auth_cookie(response: Response) -> Response:
    action = g.pop("auth_cookie_action", None)
    if action is None:
        return response
    config = current_app.config
    name = config["AUTH_COOKIE_NAME"]
    options = {
        "path": "/",
        "secure": config["SESSION_COOKIE_SECURE"],
        "httponly": True,
        "samesite": "Lax",
    }
    if action[0] == _SET:
        # No Max-Age unless kept signed in (then until its absolute end): the server-side row's
        # idle and absolute timeouts decide how long the session lives either way.
        response.set_cookie(name, action[1], max_age=action[2], **options)
    else:
        response.delete_cookie(name, **options)
    return response


def init_browser_sessions(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    # No remember-me cookie and no user id in Flask's cookie: only the auth cookie identifies a person.
    login_manager.session_protection = None  # the server-side row is the protection
    login_manager.request_loader(_load_from_cookie)
    # Flask-Login's own after-request hook only maintains its remember-me cookie, which we never
    # set; it reads Flask's session on every response, and that marks every response `Vary: Cookie`
    # (public metadata included, which then could not be cached).
    app.after_request_funcs[None].remove(login_manager._update_remember_cookie)
    app.after_request(_write_auth_cookie)
