"""Outgoing email over SMTP; without an SMTP host the message goes to the log for a developer."""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app

from app.metrics import MAIL_SENDS, count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


def _build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    timeout: int
    sender: str

    @classmethod
    def from_config(cls, config) -> SmtpSettings:
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            security=(config.get("SMTP_SECURITY") or "starttls").lower(),
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            timeout=config["SMTP_TIMEOUT"],
            sender=config["MAIL_FROM"],
        )


class _Outbox:
    """One background thread per process delivers mail, so answering a request never waits on SMTP.

    That keeps "we sent you a link" pages equally fast whether or not an account exists.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Mail, SmtpSettings]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, mail: Mail, settings: SmtpSettings) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="idp-mail", daemon=True)
                self._thread.start()
        self._queue.put((mail, settings))

    def _run(self) -> None:
        while True:
            mail, settings = self._queue.get()
            deliver(mail, settings)
            self._queue.task_done()

    def join(self) -> None:
        self._queue.join()


outbox = _Outbox()


def send_mail(mail: Mail) -> None:
    """Deliver one message. Call after the database commit, so no mail announces a rolled-back change."""
    config = current_app.config
    if not config.get("SMTP_HOST"):
        # Development default: the link is in the log so a developer can click it.
        log.warning("mail not sent (no IDP_SMTP_HOST); to=%s subject=%r\n%s", mail.to, mail.subject, mail.text)
        return
    settings = SmtpSettings.from_config(config)
    if config.get("MAIL_SYNC"):
        deliver(mail, settings)
    else:
        outbox.put(mail, settings)


def deliver(mail: Mail, settings: SmtpSettings) -> bool:
    """Send over SMTP now; a failure is logged (without the body, which may hold a link) and swallowed."""
    try:
        with _connect(settings) as smtp:
            smtp.send_message(_build_message(mail, settings.sender))
    except (OSError, smtplib.SMTPException) as exc:
        log.error("mail delivery failed: %s (subject %r)", type(exc).__name__, mail.subject)
        count(MAIL_SENDS, result="failed")
        return False
    count(MAIL_SENDS, result="sent")
    return True


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
    except BaseException:
        smtp.close()  # a refused STARTTLS or login must not leak the open socket
        raise
    return smtp
