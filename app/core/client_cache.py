"""Clients by client_id, cached per process: the token endpoint's hot path, kept fresh across workers."""

from __future__ import annotations

import logging
import threading
import time

import redis
from flask import current_app
from sqlalchemy import select

from app.core import client_metadata
from app.extensions import db
from app.models import OAuthClient
from app.models.oauth import MAX_CLIENT_ID_LENGTH

log = logging.getLogger(__name__)


class ClientCache:
    """Clients by client_id, cached per process for a few seconds: the token endpoint's hot path.

    A change to a client (disable, new secret, deletion) drops this process's copy at once. Other
    processes keep theirs until CLIENT_CACHE_SECONDS pass, unless Redis is configured. With Redis, a
    change bumps a shared generation number. Every process reads it at most once a second and
    empties its cache when the number moved, so a disabled client stops working everywhere within
    about a second, and no request pays a Redis round trip for it. If Redis can't be reached, the
    time limit still applies.
    """

    GENERATION_CHECK_SECONDS = 1.0

    def __init__(self, shared: redis.Redis | None = None, generation_key: str = "") -> None:
        self._entries: dict[str, tuple[float, OAuthClient | None]] = {}
        self._lock = threading.Lock()
        self._shared = shared
        self._generation_key = generation_key
        self._generation: bytes | None = None
        self._generation_checked = float("-inf")

    def get(self, client_id: str) -> OAuthClient | None:
        self._follow_other_processes()
        ttl = current_app.config["CLIENT_CACHE_SECONDS"]
        entry = self._entries.get(client_id)
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return entry[1]
        client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        if client is not None:
            db.session.expunge(client)  # a read-only snapshot; foreign keys use client.id
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[client_id] = (time.monotonic(), client)
        return client

    def invalidate(self, client_id: str | None = None) -> None:
        """Call after the commit: a process that refilled its cache before it would keep the old row."""
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)
        if self._shared is not None:
            try:
                self._shared.incr(self._generation_key)
            except redis.RedisError:
                log.warning("client cache: Redis unreachable; other processes see the change within CLIENT_CACHE_SECONDS")

    def _follow_other_processes(self) -> None:
        if self._shared is None or time.monotonic() - self._generation_checked < self.GENERATION_CHECK_SECONDS:
            return
        self._generation_checked = time.monotonic()
        try:
            generation = self._shared.get(self._generation_key)
        except redis.RedisError:
            return  # the time limit still bounds how stale an entry can be
        if generation != self._generation:
            with self._lock:
                self._entries.clear()
                self._generation = generation


def client_cache() -> ClientCache:
    cache = current_app.extensions.get("idp_client_cache")
    if cache is None:
        index = current_app.extensions.get("idp_deny_list_index")  # the app's Redis connection, if any
        key = f"{current_app.config['REDIS_KEY_PREFIX']}:clients:generation"
        cache = current_app.extensions.setdefault("idp_client_cache", ClientCache(index.client if index else None, key))
    return cache


def find_client(client_id: str | None) -> OAuthClient | None:
    """An enabled client, or None. Oversized ids are refused before any lookup."""
    if not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH:
        return None
    client = _metadata_document_client(client_id) if client_metadata.is_metadata_url(client_id) else client_cache().get(client_id)
    return client if client is not None and not client.is_disabled else None


def _metadata_document_client(url: str) -> OAuthClient | None:
    """The client a metadata document describes: its stored row while fresh, else fetched again (or None)."""
    config = current_app.config
    if not client_metadata.enabled(config):
        return None
    try:
        client_metadata.check_client_id_url(url, config)  # the settings may have changed since it was stored
    except client_metadata.MetadataError as error:
        log.warning("client metadata document refused: %s; client_id=%s", error, url)
        return None
    client = client_cache().get(url)
    if client is not None and not client_metadata.needs_refresh(client):
        return client
    if not client_metadata.refresh(url):
        return None
    client_cache().invalidate(url)
    return client_cache().get(url)
