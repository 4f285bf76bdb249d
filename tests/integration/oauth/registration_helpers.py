"""Dynamic registration from the tests' side: register (RFC 7591), the configuration endpoint (RFC 7592), the row."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import OAuthClient


def register(http, metadata: dict):
    return http.post("/oauth/register", json=metadata)


def config_request(http, registered: dict, method: str = "GET", body: dict | None = None):
    headers = {"Authorization": f"Bearer {registered['registration_access_token']}"}
    return http.open(f"/oauth/register/{registered['client_id']}", method=method, headers=headers, json=body)


def row_of(client_id: str) -> OAuthClient:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
