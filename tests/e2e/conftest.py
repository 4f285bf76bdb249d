"""End-to-end fixtures: a real gunicorn process on a free loopback port, and headless Chromium.

The server gets its own database, migrated with ``flask db upgrade`` (so the Alembic migration is
exercised too): a temporary SQLite file, or, when ``IDP_TEST_DATABASE_URL`` names a PostgreSQL
server, a separate database created for this run and dropped afterwards (the integration tests use
the main test database at the same time). Mail goes to the session's real SMTP server
(``smtp_server`` and ``mailbox`` in tests/conftest.py).

The server offers social sign-in through loopback upstreams (tests/upstreams.py, tests/e2e/social.py):
a second instance of this IdP on 127.0.0.1 (another host than the live server's "localhost", since
cookies ignore ports), and the fake GitHub and Discord.

Browsers come from pytest-playwright (``browser``; ``new_context``, a factory for several contexts
in one test; ``page``), launched from Debian's Chromium; ``base_url`` points them at the live server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e import server as live
from tests.e2e.server import LiveServer
from tests.e2e.social import SocialUpstreams, register_upstreams
from tests.mailbox import SmtpServer, free_port
from tests.upstreams import FakeSocialServer, UpstreamIdP

CHROMIUM = "/usr/bin/chromium"
# The last three keep Chromium from calling out to a network that is not there.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Auto-waiting assertions get room for a loaded CI machine; they return as soon as they hold.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def live_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def social_upstreams(live_port: int, upstream_idp: UpstreamIdP, fake_social: FakeSocialServer) -> SocialUpstreams:
    """The providers the live server offers: the second IdP, fake GitHub and Discord, all on loopback."""
    return register_upstreams(f"http://localhost:{live_port}", upstream_idp, fake_social)


@pytest.fixture(scope="session")
def live_server(
    smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory, live_port: int, social_upstreams: SocialUpstreams
) -> Iterator[LiveServer]:
    def make_env(database_url: str, instance_dir: Path) -> dict[str, str]:
        env = live.server_env(live_port, database_url, instance_dir, smtp_server.port)
        return {**env, **social_upstreams.env}

    with live.running_instance(tmp_path_factory.mktemp("e2e-server"), live_port, make_env) as server:
        yield server


@pytest.fixture(autouse=True)
def _server_stays_healthy(live_server: LiveServer) -> Iterator[None]:
    """Each journey must leave the server alive and its log free of errors (a 500 hidden behind the UI)."""
    start = live_server.log_size()
    yield
    if live_server.process.poll() is not None:
        pytest.fail(f"the server died during the test:\n{live_server.log_tail()}", pytrace=False)
    if live_server.error_lines(start):
        pytest.fail("the server logged errors during the test:\n" + live_server.log_text(start)[-6000:], pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing journey's report carries the end of the server log."""
    report = yield
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and report.when == "call" and isinstance(server, LiveServer):
        report.sections.append(("live server log (tail)", server.log_tail()))
    return report


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    """pytest-playwright opens every context with this base URL, so pages can ``goto("/login")``."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium, never a downloaded build (there is no network)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash .ci/install-chromium`", pytrace=False)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        # Playwright turns the back/forward cache off; people's browsers have it, and the sign-out
        # test must see what Back shows them.
        "ignore_default_args": ["--disable-back-forward-cache"],
    }
