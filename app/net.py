"""Request facts that depend on the deployment: the client's address."""

from flask import request


def client_ip() -> str:
    """The client address; X-Forwarded-For is honoured only through ProxyFix for configured proxies."""
    return request.remote_addr or "unknown"


def user_agent() -> str:
    return (request.headers.get("User-Agent") or "")[:512]
