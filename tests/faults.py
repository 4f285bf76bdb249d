"""Dependency outages for tests: a TCP proxy in front of PostgreSQL or Redis whose connections can be cut.

The app under test is pointed at the proxy instead of the real server. ``cut()`` resets every open
connection and closes the listening socket, so new connections are refused, as when the server is
down; ``stall()`` instead accepts connections and never answers, like a server behind a dropped
network path; ``restore()`` forwards again on the same port. Only loopback is used, and only this process's
own sockets are touched: the real PostgreSQL and Redis keep running for everyone else.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Iterator


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stalled = False
        self._held: set[socket.socket] = set()  # accepted while stalled: no pump thread, cut() closes them
        self.port = 0
        self._listen()

    def url_for(self, url: str) -> str:
        """``url`` (a database or Redis URL naming the target port) rewritten to go through the proxy."""
        host, port = self.target
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until ``restore()``."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
            held, self._held = self._held, set()
        if listener is not None:
            _close_now(listener)
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        for connection in connections:
            # Wakes the pump thread, which then closes both ends.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for connection in held:
            _close_now(connection)

    def stall(self) -> None:
        """Reset every open connection, then accept new ones and never answer: a server behind a dropped path."""
        self.cut()
        self._stalled = True
        self._listen()

    def restore(self) -> None:
        """Accept and forward connections again, on the same port."""
        if self._stalled:
            self.cut()
            self._stalled = False
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            if self._stalled:
                with self._lock:
                    if self._listener is listener:
                        self._held.add(client)  # held open, never answered
                        continue
                _close_now(client)  # cut meanwhile
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                _close_now(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close_now(client)
                    _close_now(upstream)
                    return
                self._connections.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select(timeout=0.5):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)
                    with self._lock:
                        if client not in self._connections:
                            return
            except OSError:
                return
            finally:
                with self._lock:
                    self._connections.difference_update(peers)
                for sock in peers:
                    _close_now(sock)


def _close_now(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0) rather than a polite goodbye, as a crashed server does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def proxy_to(port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(port)
    try:
        yield proxy
    finally:
        proxy.close()
