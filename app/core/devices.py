"""The browsers and networks a person signs in from, and whether a sign-in is new enough to tell them about.

A browser is named by a long-lived random device cookie (its SHA-256 digest is stored), a network by the
client address cut to its IPv4 /24 or IPv6 /48: coarse enough to say "the same place" across a DHCP renewal,
and not a precise location. A sign-in is worth an email when BOTH the browser and the network are new to the
person: a known laptop on a new café network, or a new browser at home, is not. Nothing is mailed while the
person has no pair recorded at all (the first sign-in after registration, or after this feature arrived):
there is nothing to compare with. Pairs unused for SEEN_DEVICE_RETENTION are pruned (app/core/maintenance.py).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update

from app.core.inserts import insert_ignoring_duplicates
from app.extensions import db
from app.models import SeenDevice, User
from app.models.base import utcnow
from app.security import token_digest

SEEN_DEVICE_RETENTION = timedelta(days=180)
UNKNOWN_NETWORK = "unknown"


def coarse_network(ip_address: str) -> str:
    """The IPv4 /24 or IPv6 /48 holding the address ("203.0.113.0/24"); "unknown" for anything unparsable."""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return UNKNOWN_NETWORK
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def record_sign_in(user: User, device_id: str, network: str, now: datetime | None = None) -> bool:
    """Remember this (browser, network) pair for the person; True when the sign-in deserves an email."""
    now = now or utcnow()
    digest = token_digest(device_id)
    mine = SeenDevice.user_id == user.id
    known_any = db.session.scalar(select(exists().where(mine)))
    known_device = db.session.scalar(select(exists().where(mine, SeenDevice.device_digest == digest)))
    known_network = db.session.scalar(select(exists().where(mine, SeenDevice.network == network)))
    pair = {"user_id": user.id, "device_digest": digest, "network": network}
    table = SeenDevice.__table__
    # Two sign-ins from one browser at once: one inserts, the other finds the row and moves last_seen.
    if not insert_ignoring_duplicates(table, {**pair, "first_seen_at": now, "last_seen_at": now}, [table.c[k] for k in pair]):
        db.session.execute(
            update(SeenDevice).where(*(getattr(SeenDevice, k) == v for k, v in pair.items())).values(last_seen_at=now)
        )
    return known_any and not known_device and not known_network
