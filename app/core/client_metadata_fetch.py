"""The guarded fetch of a Client ID Metadata Document (app/core/client_metadata.py says what it is for).

Anyone may name any URL as a client_id, so this is an outbound request on a stranger's say-so, and it
is guarded against server-side request forgery (draft-ietf-oauth-client-id-metadata-document,
"Server-Side Request Forgery" and "Maximum Response Size"): a host whose every address is public, the
connection made to that checked address, no redirects, a small JSON answer within a few seconds.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import SplitResult

import urllib3
from urllib3.exceptions import HTTPError

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
    address = _vetted_address(parts.hostname or "", port, allow_loopback=config["CLIENT_ID_METADATA_ALLOW_LOOPBACK"])
    pool = _pool(parts, address, port)
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


def _vetted_address(host: str, port: int, *, allow_loopback: bool) -> str:
    """One address of the host, after checking that every address it has is public.

    All of them, not just the one used: a name that answers both a public and a private address
    is a name someone aimed at the inside.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise MetadataError("host does not resolve") from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # without an IPv6 zone
        if not _is_public(address) and not (allow_loopback and address.is_loopback):
            raise MetadataError(f"host has a non-public address ({address})")
        addresses.append(str(address))
    if not addresses:
        raise MetadataError("host has no address")
    return addresses[0]


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6:
        # An IPv4 address inside IPv6 (mapped, 6to4, Teredo) is judged as that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not _is_public(embedded):
            return False
    # is_global already excludes private, loopback, link-local, unspecified, shared (100.64/10) and
    # reserved ranges; it counts most multicast as global, so that is refused separately.
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local)


def _pool(parts: SplitResult, address: str, port: int) -> urllib3.HTTPConnectionPool:
    """A connection to the vetted address itself, never a second DNS lookup of the name.

    Between the check and a connection by name, the name could be made to answer 127.0.0.1 (DNS
    rebinding). urllib3 lets the pool connect to an IP while TLS still sends the hostname (SNI),
    verifies the certificate for the hostname, and the Host header names the site: the server sees an
    ordinary request, and nobody but the vetted address is ever reached.
    """
    timeout = urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS)
    if parts.scheme == "http":  # development only (IDP_CLIENT_ID_METADATA_ALLOW_HTTP, refused in production)
        return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    return urllib3.HTTPSConnectionPool(
        address,
        port,
        timeout=timeout,
        retries=False,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        server_hostname=parts.hostname,
        assert_hostname=parts.hostname,
    )


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
