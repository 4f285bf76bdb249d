"""Friendly error pages that leak nothing: no stack traces, no exception text."""

from __future__ import annotations

import logging

import redis
from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask.wrappers import Response
from flask_babel import force_locale
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.core.text import lazy_gettext
from app.extensions import db
from app.metrics import DEPENDENCY_ERRORS, count
from app.web.browser_session import Anonymous
from app.web.messages import MESSAGES

log = logging.getLogger(__name__)

# What each error page says; lazy, so a page shows them in its own language.
_PAGE_TEXTS = {
    400: (
        lazy_gettext("Something was wrong with that request"),
        lazy_gettext("The form may have expired or a value was not accepted. Go back, reload the page and try again."),
    ),
    403: (lazy_gettext("Not allowed"), lazy_gettext("You don't have access to this page.")),
    404: (lazy_gettext("Page not found"), lazy_gettext("There is nothing at this address.")),
    405: (lazy_gettext("Not allowed"), lazy_gettext("This page can't be used that way.")),
    413: (lazy_gettext("Too much data"), lazy_gettext("The request was larger than this service accepts.")),
    429: (lazy_gettext("Slow down"), MESSAGES["rate_limited"]),
    500: (
        lazy_gettext("Something went wrong"),
        lazy_gettext("An unexpected error occurred. It has been logged; please try again."),
    ),
    503: (
        lazy_gettext("Temporarily unavailable"),
        lazy_gettext("This service can't reach its data right now. Please try again in a few moments."),
    ),
}


class _Texts(dict):
    """status → (title, text) as plain text in the current language: English outside a request, as tests read it."""

    def __getitem__(self, status: int) -> tuple[str, str]:
        title, text = super().__getitem__(status)
        return str(title), str(text)


TITLES = _Texts(_PAGE_TEXTS)
RETRY_AFTER_SECONDS = 5
# PostgreSQL states that mean "no usable connection": class 08 (connection exception), the server
# shutting down or starting up (57P01-57P03), too many connections (53300).
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
_UNREACHABLE_SQLITE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"}
# The last-resort answer when even the error page could not be drawn: still ours, still no details.
_BARE_PAGE = "<!doctype html><title>Something went wrong</title><h1>Something went wrong</h1><p>Please try again.</p>"


# Error codes for machine clients, in the RFC 6749 5.2 shape; 4xx without a better code are invalid_request.
JSON_ERROR_CODES = {404: "not_found", 429: "too_many_requests", 500: "server_error", 503: "temporarily_unavailable"}


def is_unavailable(error: BaseException) -> bool:
    """The database or Redis can't be reached right now (as opposed to a bad query or bad data)."""
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError, PoolTimeoutError)):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    orig = error.orig
    if hasattr(orig, "sqlstate"):  # psycopg; no SQLSTATE means the client side failed: connect, or a lost socket
        return orig.sqlstate is None or orig.sqlstate.startswith(_UNREACHABLE_SQLSTATES)
    return getattr(orig, "sqlite_errorname", None) in _UNREACHABLE_SQLITE


def render_error(status: int) -> Response:
    # Lazy until drawn: a 503 page must pick its language without loading the signed-in person.
    title, text = _PAGE_TEXTS.get(status, _PAGE_TEXTS[500] if status >= 500 else _PAGE_TEXTS[400])
    if _is_machine_request():
        code = JSON_ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_request")
        with force_locale("en"):  # error_description is for developers (RFC 6749 5.2): English
            description = f"{title}."
        response = jsonify(error=code, error_description=description)
        response.status_code = status
    else:
        unavailable = status == 503
        if unavailable:
            # The page must not touch the database: no signed-in user is loaded, none is shown.
            g._login_user = Anonymous()
        try:
            html = render_template("errors/error.html", status=status, title=title, text=text, unavailable=unavailable)
        except Exception as exc:  # the page itself failed (the database, most likely): answer anyway
            _rollback_quietly()
            if not unavailable and is_unavailable(exc):
                _log_unavailable(exc)
                return render_error(503)
            log.error("error page for %d failed: %s", status, type(exc).__name__)
            html = _BARE_PAGE
        response = make_response(html, status)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _is_machine_request() -> bool:
    """Protocol endpoints answer JSON even when something fails outside their own error handling."""
    return request.path.startswith(current_app.extensions.get("idp_json_error_paths", ()))


def _http_error(error: HTTPException) -> Response:
    response = render_error(error.code or 500)
    # Keep the headers that tell a client what to do next (Retry-After on 429, Allow on 405).
    original = error.get_response()
    for header in ("Retry-After", "Allow"):
        if header in original.headers:
            response.headers[header] = original.headers[header]
    return response


def _csrf_error(_error: CSRFError):
    return render_error(400)


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass  # the connection is gone; the pool drops it and the transaction died with it


def _log_unavailable(error: BaseException) -> None:
    # One line, no driver text (it names hosts and users): the class is enough to act on.
    origin = getattr(error, "orig", None)
    detail = f"{type(error).__name__}/{type(origin).__name__}" if origin is not None else type(error).__name__
    log.warning("dependency unavailable (%s), answered 503", detail)
    count(DEPENDENCY_ERRORS, dependency="redis" if isinstance(error, redis.RedisError) else "database")


def _unexpected_error(error: Exception):
    _rollback_quietly()
    if isinstance(error, HTTPException):
        return _http_error(error)
    if is_unavailable(error):
        _log_unavailable(error)
        return render_error(503)
    if isinstance(error, DataError):
        # The database refused a value no form check anticipated (a NUL byte, an over-long string):
        # the request was bad, not the server.
        log.warning("database refused request data: %s", type(error.orig).__name__)
        return render_error(400)
    log.exception("unhandled error: %s", type(error).__name__)
    return render_error(InternalServerError.code)


def init_errors(app: Flask, *, json_paths: tuple[str, ...] = ()) -> None:
    """`json_paths`: path prefixes of endpoints called by programs, which get JSON errors, not pages."""
    app.extensions["idp_json_error_paths"] = json_paths
    # Flask-Limiter says when Redis fails and it counts in memory, and when Redis is back: once each,
    # not per request. Those lines belong in the app's log (init_logging has set its handler).
    limiter_log = logging.getLogger("flask-limiter")
    limiter_log.handlers = logging.getLogger("app").handlers
    limiter_log.setLevel(logging.getLogger("app").level)  # "Rate limit storage recovered" is INFO
    limiter_log.propagate = False
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
