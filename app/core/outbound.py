"""Requests this server makes on somebody else's say-so, guarded against server-side request forgery.

A client ID metadata URL is named by anyone; a self-registered app names its own back-channel logout
URI. Either could aim this server at its own network. So: every address the host resolves to must be
public, and the connection goes to the address that was checked, never to a second DNS answer.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult

import urllib3


class OutboundRefused(Exception):
    """The host may not be reached from here. The message says why, for the log."""


def vetted_address(host: str, port: int, *, allow_loopback: bool) -> str:
    """One address of the host, after checking that every address it has is public.

    All of them, not just the one used: a name that answers both a public and a private address
    is a name someone aimed at the inside.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise OutboundRefused("host does not resolve") from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # without an IPv6 zone
        if not is_public(address) and not (allow_loopback and address.is_loopback):
            raise OutboundRefused(f"host has a non-public address ({address})")
        addresses.append(str(address))
    if not addresses:
        raise OutboundRefused("host has no address")
    return addresses[0]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6:
        # An IPv4 address inside IPv6 (mapped, 6to4, Teredo) is judged as that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    # is_global already excludes private, loopback, link-local, unspecified, shared (100.64/10) and
    # reserved ranges; it counts most multicast as global, so that is refused separately.
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local)


def pinned_pool(parts: SplitResult, address: str, port: int, *, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection to the vetted address itself, never a second DNS lookup of the name.

    Between the check and a connection by name, the name could be made to answer 127.0.0.1 (DNS
    rebinding). urllib3 lets the pool connect to an IP while TLS still sends the hostname (SNI),
    verifies the certificate for the hostname, and the Host header names the site: the server sees an
    ordinary request, and nobody but the vetted address is ever reached.
    """
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if parts.scheme == "http":  # loopback in development, or a plain-http URI an operator registered
        return urllib3.HTTPConnectionPool(address, port, timeout=limits, retries=False, maxsize=1)
    return urllib3.HTTPSConnectionPool(
        address,
        port,
        timeout=limits,
        retries=False,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        server_hostname=parts.hostname,
        assert_hostname=parts.hostname,
    )
