"""OAuth test fixtures: client factory, a relying party that drives the code flow, pooled signing keys."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.core import keys as keys_module
from app.core.clients import ClientSpec, create_client
from app.extensions import db
from app.models import OAuthClient, SigningKey, User
from tests.conftest import AuthActions, csrf_from

REDIRECT_URI = "https://rp.example/cb"
ALL_SCOPES = "openid profile email offline_access"
CONSENT_ACTION = re.compile(r'<form method="post" action="(/oauth/authorize/consent[^"]*)"')


# --- signing keys: generated once per run, so each test's fresh database does not pay for RSA keygen ---

_KEY_POOL: dict[tuple[str, str], dict[str, Any]] = {}


def _pooled_key(algorithm: str) -> SigningKey:
    pool_key = (algorithm, current_app.config["SECRET_KEY"])  # the private half is encrypted with the app secret
    if pool_key not in _KEY_POOL:
        row = keys_module.create_signing_key(algorithm)  # real generation and encryption, once
        db.session.expunge(row)
        _KEY_POOL[pool_key] = {
            "kid": row.kid,
            "algorithm": row.algorithm,
            "public_jwk": dict(row.public_jwk),
            "private_key_encrypted": row.private_key_encrypted,
        }
    row = SigningKey(**_KEY_POOL[pool_key])
    db.session.add(row)
    return row


_PARSED_RSA: dict[tuple[bytes, str], RSAKey] = {}


class _ParsedOnceRSAKey:
    """keys.py's RSAKey, except that a PEM seen before is not parsed again (RSA parsing checks the key: slow)."""

    generate_key = staticmethod(RSAKey.generate_key)

    @staticmethod
    def import_key(data, parameters=None):
        cache_key = (bytes(data), json.dumps(parameters, sort_keys=True))
        if cache_key not in _PARSED_RSA:
            _PARSED_RSA[cache_key] = RSAKey.import_key(data, parameters)
        return _PARSED_RSA[cache_key]


@pytest.fixture(autouse=True)
def _pooled_signing_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key ring's first load copies pooled keys instead of generating; `real_key_generation` opts out."""
    if "real_key_generation" in request.fixturenames:
        return
    monkeypatch.setattr(keys_module, "RSAKey", _ParsedOnceRSAKey)

    def create_missing(self, rows):
        present = {r.algorithm for r in rows if r.retired_at is None}
        rows.extend(_pooled_key(alg) for alg in keys_module.ALGORITHMS if alg not in present)
        db.session.commit()
        return sorted(rows, key=lambda r: r.created_at)

    monkeypatch.setattr(keys_module.KeyRing, "_create_missing", create_missing)


@pytest.fixture
def real_key_generation() -> None:
    """Request this fixture to let the key ring generate its own keys (no pool)."""


# --- PKCE, clients ---


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def create_oauth_client(app: Flask) -> Callable[..., tuple[OAuthClient, str | None]]:
    """create_oauth_client(**spec) -> (client, secret); ClientSpec fields plus model columns (e.g. is_disabled)."""
    counter = iter(range(1, 1000))

    def create(**spec: Any) -> tuple[OAuthClient, str | None]:
        columns = {k: spec.pop(k) for k in list(spec) if k not in ClientSpec.__dataclass_fields__}
        spec.setdefault("name", f"Test App {next(counter)}")
        spec.setdefault("is_confidential", True)
        spec.setdefault("redirect_uris", [REDIRECT_URI])
        spec.setdefault("grant_types", ["authorization_code", "refresh_token"])
        spec.setdefault("scope", ALL_SCOPES)
        client, secret = create_client(ClientSpec(**spec))
        for name, value in columns.items():
            setattr(client, name, value)
        db.session.commit()
        return client, secret

    return create


# --- the relying party ---


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def params_of(response: TestResponse) -> dict[str, str]:
    """Single-valued query parameters of a redirect's Location (each must appear exactly once)."""
    query = query_of(response.headers["Location"])
    assert all(len(v) == 1 for v in query.values()), query
    return {k: v[0] for k, v in query.items()}


def redirect_base(response: TestResponse) -> str:
    parts = urlsplit(response.headers["Location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass
class Pending:
    """An authorization request as sent: its parameters and the PKCE verifier kept back."""

    params: dict[str, str]
    verifier: str | None


@dataclass
class Issued:
    code: str
    verifier: str | None
    redirect_uri: str
    location: dict[str, str] = field(default_factory=dict)


class RelyingParty:
    """Drives the protocol through the test client the way a browser and a relying party would."""

    def __init__(self, app: Flask, http: FlaskClient, auth: AuthActions | None) -> None:
        self.app = app
        self.http = http
        self.auth = auth

    # authorization endpoint

    def request(self, client: OAuthClient, *, pkce: bool = True, **overrides: str | None) -> Pending:
        verifier, challenge = pkce_pair() if pkce else (None, None)
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uris[0],
            "scope": "openid profile email",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
        }
        if pkce:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(overrides)
        return Pending({k: v for k, v in params.items() if v is not None}, verifier)

    def authorize(self, pending: Pending | dict, *, method: str = "GET", http: FlaskClient | None = None) -> TestResponse:
        params = pending.params if isinstance(pending, Pending) else pending
        http = http or self.http
        if method == "POST":
            return http.post("/oauth/authorize", data=params)
        return http.get("/oauth/authorize", query_string=params)

    def consent_action(self, page: TestResponse) -> str:
        match = CONSENT_ACTION.search(page.get_data(as_text=True))
        assert match, "not the consent page"
        return unescape(match.group(1))

    def answer(self, page: TestResponse, decision: str = "approve", *, http: FlaskClient | None = None) -> TestResponse:
        http = http or self.http
        html = page.get_data(as_text=True)
        return http.post(self.consent_action(page), data={"csrf_token": csrf_from(html), "decision": decision})

    def code(self, client: OAuthClient, user: User | None = None, **overrides: str | None) -> Issued:
        """Sign in (if a user is given), authorize, approve the consent page if shown; returns the code."""
        if user is not None:
            response = self.auth.login(user.email)
            assert response.status_code == 303, response.status_code
        pending = self.request(client, **overrides)
        response = self.authorize(pending)
        if response.status_code == 200:
            response = self.answer(response)
        assert response.status_code in (302, 303), (response.status_code, response.get_data(as_text=True)[:500])
        location = params_of(response)
        assert "code" in location, location
        return Issued(location["code"], pending.verifier, pending.params["redirect_uri"], location)

    # token endpoint and friends

    @staticmethod
    def client_auth(client: OAuthClient, secret: str | None, method: str | None = None) -> dict[str, Any]:
        """Request kwargs that authenticate the client: basic, post, or none (client_id only)."""
        method = method or ("client_secret_basic" if secret else "none")
        if method == "client_secret_basic":
            return {"auth": (client.client_id, secret), "data": {}}
        if method == "client_secret_post":
            return {"data": {"client_id": client.client_id, "client_secret": secret}}
        return {"data": {"client_id": client.client_id}}

    def post(self, path: str, client: OAuthClient | None, secret: str | None, data: dict, method: str | None = None):
        kwargs: dict[str, Any] = {"data": {}}
        if client is not None:
            kwargs = self.client_auth(client, secret, method)
        kwargs["data"] = {**kwargs["data"], **{k: v for k, v in data.items() if v is not None}}
        return self.http.post(path, **kwargs)

    def redeem(self, client: OAuthClient, secret: str | None, issued: Issued, *, method: str | None = None, **extra):
        data = {
            "grant_type": "authorization_code",
            "code": issued.code,
            "redirect_uri": issued.redirect_uri,
            "code_verifier": issued.verifier,
        }
        data.update(extra)
        return self.post("/oauth/token", client, secret, data, method)

    def tokens(self, client: OAuthClient, secret: str | None, user: User | None = None, **overrides) -> dict[str, Any]:
        """The whole code flow (PKCE S256) to a token response; asserts it succeeded."""
        issued = self.code(client, user, **overrides)
        response = self.redeem(client, secret, issued)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def refresh(self, client: OAuthClient, secret: str | None, refresh_token: str | None, **extra):
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        return self.post("/oauth/token", client, secret, data)

    def introspect(self, client: OAuthClient, secret: str | None, token: str, **extra):
        return self.post("/oauth/introspect", client, secret, {"token": token, **extra})

    def revoke(self, client: OAuthClient, secret: str | None, token: str | None, **extra):
        return self.post("/oauth/revoke", client, secret, {"token": token, **extra})

    def userinfo(self, access_token: str, method: str = "GET") -> TestResponse:
        headers = {"Authorization": f"Bearer {access_token}"}
        return self.http.open("/oauth/userinfo", method=method, headers=headers)


@pytest.fixture
def rp(app: Flask, test_client: FlaskClient, auth: AuthActions) -> RelyingParty:
    return RelyingParty(app, test_client, auth)


@pytest.fixture
def first_party(create_oauth_client) -> tuple[OAuthClient, str]:
    """A confidential client that skips the consent page: for flows where consent is not under test."""
    return create_oauth_client(name="First Party", is_first_party=True)


@pytest.fixture
def resource_server(create_oauth_client) -> tuple[OAuthClient, str]:
    """A confidential client standing in for an API that introspects tokens."""
    return create_oauth_client(name="Resource Server", grant_types=["client_credentials"], redirect_uris=[], scope="api")


# --- verification with joserfc directly, never the server's own helpers ---


def published_keys(http: FlaskClient) -> KeySet:
    response = http.get("/oauth/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.get_json())


def verify_jwt(http: FlaskClient, token: str, algorithms: list[str] | None = None) -> jwt.Token:
    """Verify a token's signature against the published JWKS (raises on failure)."""
    return jwt.decode(token, published_keys(http), algorithms=algorithms or ["RS256", "ES256"])


def count_rows(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(model, ident):
    """A row as it is in the database now (not as this session last saw it)."""
    db.session.expire_all()
    return db.session.get(model, ident)


def table_counts() -> dict[str, int]:
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables}


# --- the usual cast: a verified person, a first-party app (consent not under test), their tokens ---


@pytest.fixture
def user(create_user) -> User:
    return create_user(email="ada@example.com")


@pytest.fixture
def rp_client(first_party) -> tuple[OAuthClient, str]:
    return first_party


@pytest.fixture
def tokens(rp, user, rp_client) -> dict[str, Any]:
    """A full code flow's token response (access, refresh and ID token) for `user` at `rp_client`."""
    client, secret = rp_client
    return rp.tokens(client, secret, user)
