"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, for tests to read."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

LINK_PATTERN = re.compile(r"https?://[^\s<>\"]+")


@dataclass
class ReceivedMail:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()

    def link(self, contains: str) -> str:
        return next(url for url in LINK_PATTERN.findall(self.text) if contains in url)


class Mailbox:
    """Collects messages; ``wait_for`` blocks on a condition (no sleeps) until one matches."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self._condition = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._condition:
            self.messages.append(ReceivedMail(list(envelope.rcpt_tos), message))
            self._condition.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 10.0) -> ReceivedMail:
        def find() -> ReceivedMail | None:
            for mail in reversed(self.messages):
                if to in mail.to and subject_contains in mail.subject:
                    return mail
            return None

        with self._condition:
            found = self._condition.wait_for(find, timeout=timeout)
        if found is None:
            raise AssertionError(f"no mail to {to} with {subject_contains!r} within {timeout}s")
        return found

    def to(self, address: str) -> list[ReceivedMail]:
        with self._condition:
            return [mail for mail in self.messages if address in mail.to]

    def clear(self) -> None:
        with self._condition:
            self.messages.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
