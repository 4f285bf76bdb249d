"""Web-test helpers: build apps with the limiter on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from app.extensions import limiter

GENEROUS = "1000 per minute"
LIMIT_NAMES = (
    "LIMIT_LOGIN_IP",
    "LIMIT_LOGIN_ACCOUNT",
    "LIMIT_REGISTER_IP",
    "LIMIT_REGISTER_ACCOUNT",
    "LIMIT_RESET_IP",
    "LIMIT_RESET_ACCOUNT",
)


@pytest.fixture
def limited_app(app_factory, monkeypatch) -> Callable[..., Flask]:
    """limited_app(LIMIT_X="3 per minute") -> an app with the limiter on and every other limit generous."""

    def build(**overrides: object) -> Flask:
        # The Limiter object is shared by every app in the process and keeps the first key prefix it saw,
        # so with Redis one test's counters would meet another's. Let this app's own prefix apply.
        monkeypatch.setattr(limiter, "_key_prefix", None)
        settings: dict[str, object] = dict.fromkeys(LIMIT_NAMES, GENEROUS)
        settings.update(overrides)
        return app_factory(RATELIMIT_ENABLED=True, **settings)

    return build
