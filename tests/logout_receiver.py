"""A relying party's back-channel logout endpoint on loopback, for the tests: it records what it receives.

`status` sets its answer; `delay` makes it slow; `holding` keeps each request unanswered until `release()`
(an app that hangs). Used by the integration tests (in-process) and the e2e
test (receiving from a live gunicorn).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Received:
    path: str
    content_type: str
    form: dict[str, list[str]]

    @property
    def logout_token(self) -> str:
        return self.form["logout_token"][0]


@dataclass
class LogoutReceiver:
    port: int = 0
    status: int = 200
    delay: float = 0.0
    holding: bool = False
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/backchannel-logout"

    def release(self) -> None:
        self.released.set()

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` logout tokens have arrived (the live server delivers them on its own thread)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.arrived.wait(0.1)
            self.arrived.clear()
        return list(self.received)


@contextmanager
def logout_receiver(**settings) -> Iterator[LogoutReceiver]:
    receiver = LogoutReceiver(**settings)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            receiver.received.append(Received(self.path, self.headers.get("Content-Type", ""), parse_qs(body)))
            receiver.arrived.set()
            if receiver.delay:
                time.sleep(receiver.delay)  # a slow app: the server's timeout must cut it short
            if receiver.holding:
                receiver.released.wait(60)
            self.send_response(receiver.status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()
