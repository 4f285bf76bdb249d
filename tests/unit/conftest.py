"""Unit-test helpers: read what the app's own log handler writes."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def capture_app_log() -> Iterator[Callable[[], io.StringIO]]:
    """Call after building the app: the app's real handler (formatter, request-id filter) writes to the buffer."""
    swapped: list[logging.StreamHandler] = []

    def capture() -> io.StringIO:
        handler = logging.getLogger("app").handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        buffer = io.StringIO()
        handler.setStream(buffer)
        swapped.append(handler)
        return buffer

    yield capture
    for handler in swapped:
        handler.setStream(sys.stderr)
