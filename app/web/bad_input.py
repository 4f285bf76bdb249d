"""Hostile or broken request data is the client's error (400 or 413), never a 500 and never half-read.

Two parts. A chunked body (no Content-Length; gunicorn marks it `wsgi.input_terminated`) is read here,
up to MAX_CONTENT_LENGTH + 1 bytes, before anything parses it: Werkzeug would otherwise stop reading
quietly at the limit and the app would act on the part it got. Over the limit is 413.
Then the errors that only bad input raises (undecodable bytes, unparsable values, numbers too large,
documents nested too deeply) become 400, JSON on protocol paths and the friendly page elsewhere.
"""

from __future__ import annotations

import io
import logging

from flask import Flask, abort, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from app.extensions import db
from app.web.errors import render_error
from app.web.json_input import JsonInputError

log = logging.getLogger(__name__)

_TOO_LARGE = "idp.body_too_large"
_READ_SIZE = 64 * 1024
# Raised by parsing what a client sent; a handler turns each into 400 instead of a 500.
INPUT_ERRORS = (ValueError, OverflowError, RecursionError)  # ValueError covers UnicodeDecodeError, JsonInputError


class _BufferChunkedBody:
    """WSGI middleware: give a body without Content-Length one, or mark it too large."""

    def __init__(self, wsgi_app, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ, start_response):
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and environ.get("wsgi.input_terminated") and get_content_length(environ) is None:
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            # From here on it is an ordinary body with a length; over the limit, Werkzeug refuses any read with 413.
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            del environ["wsgi.input_terminated"]
            if len(body) > limit:
                environ[_TOO_LARGE] = True
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(_READ_SIZE, remaining))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _refuse_oversized_body() -> None:
    """First before-request hook: a body over the limit is refused even where no view reads it."""
    if request.environ.get(_TOO_LARGE):
        abort(RequestEntityTooLarge.code)


def _bad_input(error: Exception):
    db.session.rollback()
    if isinstance(error, JsonInputError):
        log.info("refused JSON body: %s", error)
    else:
        # Logged with its traceback: an input error is the client's, but a ValueError may also be our bug.
        log.warning("bad request data: %s", type(error).__name__, exc_info=error)
    return render_error(400)


def init_bad_input(app: Flask) -> None:
    app.wsgi_app = _BufferChunkedBody(app.wsgi_app, app)
    # Ahead of every other hook (CSRF reads the form in its own): an oversized body is 413, not a CSRF failure.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_oversized_body)
    for error in INPUT_ERRORS:
        app.register_error_handler(error, _bad_input)
