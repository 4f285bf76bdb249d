"""Structured logging: one JSON object per line, each carrying the request id."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time

from flask import Flask, g, has_request_context, request
from flask.wrappers import Response

# Belt and braces: values after these words are masked even if a caller logs them by mistake.
# An Authorization value starts with its scheme ("Bearer x"), so the scheme and the credential both go.
_SECRET_PATTERN = re.compile(
    r"(?i)(password|secret|token|code|authorization)(\"?\s*[=:]\s*\"?)((?:(?:bearer|basic|dpop)\s+)?[^\s\"&,;]+)"
)


def redact(text: str) -> str:
    return _SECRET_PATTERN.sub(r"\1\2[redacted]", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": redact(record.getMessage()) if record.name != "app.core.mail" else record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.name == "app.core.mail" else redact(text)


def _begin_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    # Accept a proxy's id only when it looks like one; otherwise make our own.
    g.request_id = incoming if re.fullmatch(r"[A-Za-z0-9._-]{8,64}", incoming) else secrets.token_hex(8)
    g.request_started = time.perf_counter()


def _end_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    # The route pattern, never the real path or query: /reset-password/<token> must not log the token.
    route = request.url_rule.rule if request.url_rule else "<unmatched>"
    logging.getLogger("app.access").info("%s %s %s %.1fms", request.method, route, response.status_code, elapsed_ms)
    return response


def init_logging(app: Flask) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if app.config.get("LOG_JSON"):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    logger = logging.getLogger("app")
    logger.handlers = [handler]
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logger.propagate = False
    app.before_request(_begin_request)
    app.after_request(_end_request)
