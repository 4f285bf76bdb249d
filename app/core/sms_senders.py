"""How a text message leaves the server: a development sender that logs it, and a Twilio-style HTTP gateway.

Both answer to `SmsSender.send(to_e164, text)`, and `sms_sender()` picks one from the config
(IDP_SMS_SENDER: "log", the development default; "http"; or "off",
production's default, which sends nothing). A sender raises `SmsSendError` when the message
could not be handed over; the error text is for the log and never carries the gateway token.
The HTTP sender uses urllib from the standard library: `requests` is only a test dependency here.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

from flask import current_app

log = logging.getLogger("app.sms")

HTTP_TIMEOUT_SECONDS = 5
# Enough of a gateway's error answer to diagnose it in the log, not a whole HTML error page.
_ERROR_BODY_CHARS = 200


class SmsSendError(Exception):
    """The message was not handed to the gateway (refused, unreachable, timed out, or not configured)."""


class SmsSender(Protocol):
    def send(self, to_e164: str, text: str) -> None: ...


def mask_phone(phone_e164: str) -> str:
    """ "•••• 1234": enough for a person to recognise their number, too little to reveal it."""
    return "•••• " + phone_e164[-4:]


class LogSmsSender:
    """Development only: the message goes to the app log (logger "app.sms") instead of a phone.

    app/log.py masks any value written after "code=" or "code:", so the line is laid out to never
    put one there: the number is masked and the text follows "message". Callers phrase the text the
    same way ("123456 is your ... code"), so the person running the server can read the code.
    """

    def send(self, to_e164: str, text: str) -> None:
        log.info("SMS not sent (development log sender) to %s, message %s", mask_phone(to_e164), text)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the Basic credentials to wherever it points; a gateway never needs one."""

    def redirect_request(self, *args, **kwargs):
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects())


class HttpSmsSender:
    """POSTs To, From and Body, form-encoded, with HTTP Basic auth, as Twilio's Messages API expects."""

    def __init__(self, url: str, account: str, token: str, sender: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        # "{account}" in the URL is filled in, so the setting can be copied from Twilio's documentation.
        self.url = url.replace("{account}", urllib.parse.quote(account, safe=""))
        if urllib.parse.urlsplit(self.url).scheme not in ("https", "http"):
            raise SmsSendError("IDP_SMS_HTTP_URL must be an http(s) URL")
        self.sender = sender
        self.timeout = timeout
        self._authorization = "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode("ascii")

    def __repr__(self) -> str:  # never the credentials, even in a traceback's locals
        return f"HttpSmsSender(url={self.url!r})"

    def send(self, to_e164: str, text: str) -> None:
        body = urllib.parse.urlencode({"To": to_e164, "From": self.sender, "Body": text}).encode("ascii")
        request = urllib.request.Request(self.url, data=body, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/json")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = response.status
                answer = response.read(_ERROR_BODY_CHARS)
        except urllib.error.HTTPError as error:  # any non-2xx answer
            raise SmsSendError(f"SMS gateway answered {error.code}: {_gateway_message(error.read(4096))}") from None
        except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
            raise SmsSendError(f"SMS gateway unreachable: {error}") from None
        if not 200 <= status < 300:
            raise SmsSendError(f"SMS gateway answered {status}: {_gateway_message(answer)}")


def _gateway_message(raw: bytes) -> str:
    """Twilio's error JSON carries a "message"; anything else is shown shortened."""
    try:
        return str(json.loads(raw).get("message", ""))[:_ERROR_BODY_CHARS]
    except (ValueError, AttributeError):
        return raw[:_ERROR_BODY_CHARS].decode("utf-8", errors="replace")


def sms_sender() -> SmsSender:
    """The configured sender. In production the log sender refuses: a code in a log is a leaked credential."""
    config = current_app.config
    kind = config.get("SMS_SENDER", "log")
    if kind == "http":
        missing = [name for name in ("SMS_HTTP_URL", "SMS_HTTP_ACCOUNT", "SMS_HTTP_TOKEN", "SMS_FROM") if not config.get(name)]
        if missing:
            raise SmsSendError(f"the http SMS sender needs IDP_{', IDP_'.join(missing)}")
        return HttpSmsSender(config["SMS_HTTP_URL"], config["SMS_HTTP_ACCOUNT"], config["SMS_HTTP_TOKEN"], config["SMS_FROM"])
    if kind == "log":
        if config.get("ENV_NAME") == "production":
            raise SmsSendError("the log SMS sender is for development; set IDP_SMS_SENDER=http in production")
        return LogSmsSender()
    if kind == "off":
        raise SmsSendError("text messages are turned off (IDP_SMS_SENDER=off)")
    raise SmsSendError(f"unknown IDP_SMS_SENDER {kind!r} (use log, http or off)")
