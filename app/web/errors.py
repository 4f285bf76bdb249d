"""Friendly error pages that leak nothing: no stack traces, no exception text."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask.wrappers import Response
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db
from app.web.messages import message

log = logging.getLogger(__name__)

TITLES = {
    400: (
        "Something was wrong with that request",
        "The form may have expired or a value was not accepted. Go back, reload the page and try again.",
    ),
    403: ("Not allowed", "You don't have access to this page."),
    404: ("Page not found", "There is nothing at this address."),
    405: ("Not allowed", "This page can't be used that way."),
    413: ("Too much data", "The request was larger than this service accepts."),
    429: ("Slow down", message("rate_limited")),
    500: ("Something went wrong", "An unexpected error occurred. It has been logged; please try again."),
}


# Error codes for machine clients, in the RFC 6749 5.2 shape; 4xx without a better code are invalid_request.
JSON_ERROR_CODES = {404: "not_found", 429: "too_many_requests", 500: "server_error", 503: "temporarily_unavailable"}


def render_error(status: int) -> Response:
    title, text = TITLES.get(status, TITLES[500] if status >= 500 else TITLES[400])
    if _is_machine_request():
        code = JSON_ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_request")
        response = jsonify(error=code, error_description=title + ".")
        response.status_code = status
        return response
    return make_response(render_template("errors/error.html", status=status, title=title, text=text), status)


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


def _unexpected_error(error: Exception):
    db.session.rollback()
    if isinstance(error, HTTPException):
        return _http_error(error)
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
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
