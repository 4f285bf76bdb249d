"""The guarded fetch of a Client ID Metadata Document (app/core/client_metadata.py says what it is for).

Anyone may name any URL as a client_id, so this is an outbound request on a stranger's say-so, and it
is guarded against server-side request forgery (draft-ietf-oauth-client-id-metadata-document,
"Server-Side Request Forgery" and "Maximum Response Size"): a host whose every address is public, the
connection made to that checked address (app/core/outbound.py), no redirects, a small JSON answer within
a few seconds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import SplitResult

from urllib3.exceptions import HTTPError

from app.core.outbound import OutboundRefused, pinned_pool, vetted_address

TIMEOUT_SECONDS = 3.0  # to connect, and again for the whole answer
MAX_DOCUMENT_BYTES = 5 * 1024  # the size the draft and MCP suggest
MIN_LIFETIME = timedelta(minutes=5)  # also the lifetime of a document that names none
MAX_LIFETIME = timedelta(hours=24)


class MetadataError(Exception):
    """The document can't be used. The message says why, for the log: never the body, never shown."""


@dataclass(frozen=True)
class Fetched:
    document: object
    lifetime: timedelta


def fetch_document(parts: SplitResult, config) -> Fetched:
    started = time.monotonic()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = vetted_address(parts.hostname or "", port, allow_loopback=config["CLIENT_ID_METADATA_ALLOW_LOOPBACK"])
    except OutboundRefused as refused:
        raise MetadataError(str(refused)) from None
    pool = pinned_pool(parts, address, port, timeout=TIMEOUT_SECONDS)
    try:
        response = pool.urlopen(
            "GET",
            parts.path,
            headers={"Host": parts.netloc, "Accept": "application/json", "Accept-Encoding": "identity"},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
        )
        try:
            body = _read_body(response, deadline=started + TIMEOUT_SECONDS)
            lifetime = _lifetime(response.headers.get("Cache-Control", ""))
        finally:
            response.close()
    except (HTTPError, OSError, ValueError) as exc:  # timeouts, refused connections, TLS and certificate failures
        raise MetadataError(f"fetch failed ({exc.__class__.__name__})") from None
    finally:
        pool.close()
    try:
        return Fetched(json.loads(body.decode("utf-8")), lifetime)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        raise MetadataError("document is not UTF-8 JSON") from None


def _read_body(response, *, deadline: float) -> bytes:
    """200 with a JSON content type, at most MAX_DOCUMENT_BYTES, within the deadline; a 3xx is a refusal."""
    if response.status != 200:
        raise MetadataError(f"answered HTTP {response.status} (redirects are not followed)")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise MetadataError(f"content type is {content_type[:50] or 'missing'}, not application/json")
    if response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
        raise MetadataError("document is compressed")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
        raise MetadataError(f"document is larger than {MAX_DOCUMENT_BYTES} bytes")
    body = bytearray()
    while chunk := response.read1(1024):  # one socket read each: a trickle meets the deadline
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise MetadataError(f"document is larger than {MAX_DOCUMENT_BYTES} bytes")
        if time.monotonic() > deadline:
            raise MetadataError("document took too long to arrive")
    return bytes(body)


def _lifetime(cache_control: str) -> timedelta:
    """The HTTP cache lifetime, within MIN_LIFETIME and MAX_LIFETIME; no max-age (or no-store): the minimum."""
    directives = {part.strip().lower().partition("=")[0]: part.strip().partition("=")[2] for part in cache_control.split(",")}
    max_age = directives.get("max-age", "").strip('"')
    if "no-store" in directives or "no-cache" in directives or not max_age.isdigit():
        return MIN_LIFETIME
    return min(max(timedelta(seconds=int(max_age[:9])), MIN_LIFETIME), MAX_LIFETIME)
