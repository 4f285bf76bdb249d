"""A stand-in for a Twilio-style SMS gateway: a real HTTP server on loopback that keeps what it receives.

It answers like Twilio's Messages API (201 with a JSON message resource), or with an error status
when a test asks for one, so the app's HTTP sender is exercised over a real socket.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.mailbox import free_port

CODE_PATTERN = re.compile(r"\b([0-9]{6}) is your\b")


@dataclass
class GatewayRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return None
        account, _, token = base64.b64decode(value).decode().partition(":")
        return account, token

    @property
    def body(self) -> str:
        return self.form["Body"][0]

    @property
    def code(self) -> str:
        match = CODE_PATTERN.search(self.body)
        assert match, f"no code in {self.body!r}"
        return match.group(1)


class SmsGateway:
    def __init__(self) -> None:
        self.requests: list[GatewayRequest] = []
        self.fail_with: int | None = None  # answer every request with this status instead of 201
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def messages_to(self, phone_e164: str) -> list[GatewayRequest]:
        with self._lock:
            return [request for request in self.requests if request.form.get("To") == [phone_e164]]

    def last_code(self, phone_e164: str) -> str:
        messages = self.messages_to(phone_e164)
        assert messages, f"no text was sent to {phone_e164}"
        return messages[-1].code

    def _record(self, request: GatewayRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return self.fail_with or 201

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode("ascii"), keep_blank_values=True)
                request = GatewayRequest("POST", self.path, dict(self.headers.items()), form)
                status = gateway._record(request)
                if status == 201:
                    answer = {"sid": "SM" + secrets.token_hex(16), "status": "queued", "to": form.get("To", [""])[0]}
                else:
                    answer = {"code": 30008, "message": "Unknown error", "status": status}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                if 300 <= status < 400:  # a redirect elsewhere: the sender must not follow it with its credentials
                    self.send_header("Location", gateway.url + "/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler
