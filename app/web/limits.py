"""Rate limits named by a config key, read per request.

Flask-Limiter's decorators are applied when a module is imported, before any app (or any test's
config) exists. Given a callable instead of a string, Flask-Limiter calls it on each request, so the
limit comes from the app serving that request: its LIMIT_* settings, overridable per deployment and
per test.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app


def configured(name: str) -> Callable[[], str]:
    """A limit for @limiter.limit / shared_limit: the value of config[name] at request time, e.g. "10 per minute"."""
    return lambda: current_app.config[name]
