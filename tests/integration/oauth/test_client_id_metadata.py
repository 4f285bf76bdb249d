"""Client ID Metadata Documents: an http(s) URL as client_id, fetched from a local server, and every refusal.

The documents are served by a small http.server on 127.0.0.1, so the positive tests turn on the two
development settings (plain http, loopback); the refusals run with what production would have.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.config import Config
from app.core import client_metadata, client_metadata_fetch, outbound
from app.extensions import db
from app.models import AuthorizationCode, OAuthClient
from app.models.base import utcnow
from app.settings import ConfigError
from tests.conftest import AuthActions
from tests.integration.oauth.conftest import RelyingParty, count_rows, params_of
from tests.mailbox import free_port

REDIRECT_URI = "https://rp.example/cb"
SECRET_MARK = "body-text-that-must-never-be-logged"
EC_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}
DEV = {"CLIENT_ID_METADATA_DOCUMENTS": True, "CLIENT_ID_METADATA_ALLOW_HTTP": True, "CLIENT_ID_METADATA_ALLOW_LOOPBACK": True}


class DocumentServer:
    """Answers GET <path> with what `routes` says: (status, headers, body, delay); counts the hits."""

    def __init__(self) -> None:
        self.port = free_port()
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        self.hits: dict[str, int] = {}
        self.trickle: dict[str, float] = {}  # path -> seconds between the body's bytes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                status, headers, body, delay = server.routes.get(self.path, (404, {}, b"", 0.0))
                time.sleep(delay)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    if value:  # an empty value leaves the header out
                        self.send_header(name, value)
                self.end_headers()
                try:
                    pause = server.trickle.get(self.path)
                    for start in range(0, len(body), 1 if pause else len(body) or 1):
                        self.wfile.write(body[start : start + 1] if pause else body)
                        self.wfile.flush()
                        time.sleep(pause or 0)
                except OSError:
                    pass  # the client gave up (size cap, timeout)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/client.json") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def document(self, path: str = "/client.json", **fields) -> str:
        """Serve a valid document at path (fields override or, given None, remove); returns its URL."""
        doc = {"client_id": self.url(path), "client_name": "Agent", "redirect_uris": [REDIRECT_URI]}
        doc["grant_types"] = ["authorization_code", "refresh_token"]
        doc.update(fields)
        self.serve(path, json.dumps({k: v for k, v in doc.items() if v is not None}).encode())
        return self.url(path)

    def serve(self, path: str, body: bytes, status: int = 200, delay: float = 0.0, **headers: str) -> None:
        headers = {"Content-Type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
        self.routes[path] = (status, headers, body, delay)


@pytest.fixture
def docs():
    server = DocumentServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def build(app_factory, create_user):
    """build(**settings) -> a signed-in RelyingParty on an app with those settings (DEV by default)."""

    def make(**settings) -> RelyingParty:
        app = app_factory(**(DEV | settings))
        context = app.app_context()
        context.push()
        contexts.append(context)
        http = app.test_client()
        auth = AuthActions(http)
        user = create_user(email=f"ada{len(contexts)}@example.com")
        assert auth.login(user.email).status_code == 303
        return RelyingParty(app, http, auth)

    contexts: list = []
    yield make
    for context in reversed(contexts):
        context.pop()


def as_client(url: str) -> SimpleNamespace:
    return SimpleNamespace(client_id=url, redirect_uris=[REDIRECT_URI])


def assert_unknown_client(response, codes: int = 0) -> None:
    """The authorization endpoint's page for an unknown client: no redirect to an unverified URI."""
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert 'data-error="invalid_client"' in response.get_data(as_text=True)
    assert count_rows(AuthorizationCode) == codes


def metadata_row(url: str) -> OAuthClient | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == url))


def move_clock(monkeypatch, by: timedelta) -> None:
    monkeypatch.setattr(client_metadata, "_now", lambda: utcnow() + by)


# --- the flow ---


def test_a_metadata_document_client_gets_tokens_through_the_full_code_flow(build, docs):
    rp = build()
    url = docs.document(scope="openid profile offline_access")
    pending = rp.request(as_client(url), scope="openid profile offline_access")

    page = rp.authorize(pending)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="metadata-document-note"' in html and "<strong>127.0.0.1</strong>" in html
    answered = rp.answer(page)
    assert answered.status_code == 303
    code = params_of(answered)["code"]
    response = rp.http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": pending.verifier,
            "client_id": url,
        },
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    tokens = response.get_json()
    assert tokens["access_token"] and tokens["id_token"] and tokens["refresh_token"]
    row = metadata_row(url)
    assert row.is_metadata_document and not row.is_first_party and not row.is_confidential
    refreshed = rp.refresh(as_client(url), None, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


def test_consent_is_asked_every_time_even_after_approval(build, docs):
    rp = build()
    url = docs.document()
    rp.code(as_client(url))  # approved once

    assert rp.authorize(rp.request(as_client(url))).status_code == 200  # the consent page again
    silent = rp.authorize(rp.request(as_client(url), prompt="none"))
    assert silent.status_code == 302 and params_of(silent)["error"] == "consent_required"


def test_discovery_advertises_support_only_when_enabled(build):
    assert (
        "client_id_metadata_document_supported"
        not in build(CLIENT_ID_METADATA_DOCUMENTS=False).http.get("/.well-known/oauth-authorization-server").get_json()
    )
    metadata = build().http.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["client_id_metadata_document_supported"] is True


# --- caching ---


def test_the_document_is_reused_within_its_lifetime_and_fetched_again_after(build, docs, monkeypatch):
    rp = build()
    url = docs.document(path="/cached.json")
    docs.routes["/cached.json"][1]["Cache-Control"] = "public, max-age=600"

    assert rp.authorize(rp.request(as_client(url))).status_code == 200
    move_clock(monkeypatch, timedelta(seconds=590))
    assert rp.authorize(rp.request(as_client(url))).status_code == 200
    assert docs.hits["/cached.json"] == 1

    move_clock(monkeypatch, timedelta(seconds=610))
    assert rp.authorize(rp.request(as_client(url))).status_code == 200
    assert docs.hits["/cached.json"] == 2


def test_a_failed_refetch_refuses_the_client_instead_of_serving_the_stale_document(build, docs, monkeypatch):
    rp = build()
    url = docs.document()
    issued = rp.code(as_client(url))
    docs.serve("/client.json", b"gone", status=500)
    move_clock(monkeypatch, timedelta(minutes=6))  # past the minimum lifetime (no Cache-Control)

    token = rp.redeem(as_client(url), None, issued)
    assert token.status_code in (400, 401) and token.get_json()["error"] == "invalid_client"
    assert_unknown_client(rp.authorize(rp.request(as_client(url))), codes=1)
    assert docs.hits["/client.json"] == 2  # a refused URL is not fetched again at once


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [("", 300), ("max-age=10", 300), ("no-store", 300), ("max-age=7200", 7200), ("max-age=9999999", 86400)],
)
def test_the_http_lifetime_is_held_between_five_minutes_and_a_day(cache_control, seconds):
    assert client_metadata_fetch._lifetime(cache_control) == timedelta(seconds=seconds)


# --- refusals ---


def padded(document: bytes, size: int) -> bytes:
    """The same valid document, made larger than `size` with insignificant whitespace."""
    return document[:-1] + b" " * size + b"}"


# Each answer holds the valid document, so only the rule under test can refuse it.
BAD_ANSWERS = {
    "not found": lambda doc: (doc, 404, {}),
    "over the size cap": lambda doc: (padded(doc, 6000), 200, {}),
    "over the cap, no length": lambda doc: (padded(doc, 9000), 200, {"Content-Length": ""}),
    "not JSON": lambda doc: (b"<html>" + SECRET_MARK.encode(), 200, {}),
    "not UTF-8": lambda doc: (doc.replace(b"Agent", b"Ag\xe9nt"), 200, {}),
    "wrong content type": lambda doc: (doc, 200, {"Content-Type": "text/html"}),
    "no content type": lambda doc: (doc, 200, {"Content-Type": ""}),
    "compressed": lambda doc: (doc, 200, {"Content-Encoding": "gzip"}),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_a_bad_answer_makes_the_client_unknown(build, docs, capture_app_log, case):
    rp = build()
    log = capture_app_log()
    url = docs.document()
    body, status, headers = BAD_ANSWERS[case](docs.routes["/client.json"][2])
    docs.serve("/client.json", body, status=status, **{k.replace("-", "_"): v for k, v in headers.items()})

    assert_unknown_client(rp.authorize(rp.request(as_client(url))))
    assert "client metadata document refused" in log.getvalue()
    assert SECRET_MARK not in log.getvalue()
    assert metadata_row(url) is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(build, docs, status):
    rp = build()
    url = docs.url()
    docs.document("/elsewhere.json", client_id=url)  # what a followed redirect would find: a valid document
    docs.serve("/client.json", b"", status=status, Location=docs.url("/elsewhere.json"))

    assert_unknown_client(rp.authorize(rp.request(as_client(url))))
    assert "/elsewhere.json" not in docs.hits


BAD_FIELDS = {
    "client_id differs": {"client_id": "http://127.0.0.1:1/other.json"},
    "client_secret": {"client_secret": "s3cret"},
    "client_secret_expires_at": {"client_secret_expires_at": 0},
    "shared-secret auth": {"token_endpoint_auth_method": "client_secret_basic"},
    "jwks_uri": {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [EC_KEY]}, "jwks_uri": "https://rp.example/j"},
    "private_key_jwt without keys": {"token_endpoint_auth_method": "private_key_jwt"},
    "no redirect_uris": {"redirect_uris": None},
    "empty redirect_uris": {"redirect_uris": []},
    "http redirect": {"redirect_uris": ["http://rp.example/cb"]},
    "fragment redirect": {"redirect_uris": ["https://rp.example/cb#x"]},
    "machine grant": {"grant_types": ["client_credentials"]},
    "implicit": {"response_types": ["token"]},
    "long name": {"client_name": "n" * 101},
    "http logo": {"logo_uri": "http://rp.example/logo.png"},
    "name not a string": {"client_name": ["Agent"]},
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_a_bad_document_makes_the_client_unknown(build, docs, case):
    rp = build()
    url = docs.document(**BAD_FIELDS[case])

    assert_unknown_client(rp.authorize(rp.request(as_client(url))))
    assert metadata_row(url) is None


def test_a_document_that_is_a_list_is_refused(build, docs):
    rp = build()
    docs.serve("/client.json", json.dumps([docs.url()]).encode())
    assert_unknown_client(rp.authorize(rp.request(as_client(docs.url()))))


def test_a_slow_server_times_out(build, docs, monkeypatch):
    monkeypatch.setattr(client_metadata_fetch, "TIMEOUT_SECONDS", 0.3)
    rp = build()
    url = docs.document()
    status, headers, body, _ = docs.routes["/client.json"]
    docs.routes["/client.json"] = (status, headers, body, 1.0)

    started = time.monotonic()
    assert_unknown_client(rp.authorize(rp.request(as_client(url))))
    assert time.monotonic() - started < 1.0


def test_a_trickling_answer_meets_the_overall_deadline(build, docs, monkeypatch):
    """Each byte arrives within the read timeout, but the whole answer may not take longer than the budget."""
    monkeypatch.setattr(client_metadata_fetch, "TIMEOUT_SECONDS", 0.5)
    rp = build()
    url = docs.document()
    docs.trickle["/client.json"] = 0.05  # about 150 bytes: some 7 seconds in all

    started = time.monotonic()
    assert_unknown_client(rp.authorize(rp.request(as_client(url))))
    assert time.monotonic() - started < 1.5


def test_the_token_endpoint_answers_invalid_client_for_a_url_it_cannot_use(build, docs):
    rp = build()
    url = docs.document(client_secret="s3cret")
    response = rp.http.post("/oauth/token", data={"grant_type": "authorization_code", "code": "ac_x", "client_id": url})
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "settings",
    [
        {"CLIENT_ID_METADATA_DOCUMENTS": False},  # the feature off (the default)
        {"CLIENT_ID_METADATA_ALLOW_LOOPBACK": False},  # 127.0.0.1 with the production setting
        {"CLIENT_ID_METADATA_ALLOW_HTTP": False},  # plain http with the production setting
        {"CLIENT_ID_METADATA_HOSTS": "agents.example, other.example"},  # host not on the allow-list
    ],
)
def test_settings_refuse_before_anything_is_fetched(build, docs, settings):
    rp = build(**settings)
    url = docs.document()

    assert_unknown_client(rp.authorize(rp.request(as_client(url))))
    assert docs.hits == {}


def test_an_allow_listed_host_is_fetched(build, docs):
    rp = build(CLIENT_ID_METADATA_HOSTS="agents.example,127.0.0.1")
    assert rp.authorize(rp.request(as_client(docs.document()))).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/", "", "/client.json?x=1", "/client.json#f", "/a/../client.json", "/a/%2e%2e/client.json", "/./c.json", "/" + "a" * 240],
)
def test_client_id_urls_of_the_wrong_shape_are_refused_unfetched(build, docs, path):
    rp = build()
    docs.document()

    assert_unknown_client(rp.authorize(rp.request(as_client(f"http://127.0.0.1:{docs.port}{path}"))))
    assert docs.hits == {}


def test_user_information_in_the_url_is_refused(build, docs):
    rp = build()
    assert_unknown_client(rp.authorize(rp.request(as_client(f"http://user@127.0.0.1:{docs.port}/client.json"))))
    assert docs.hits == {}


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.1"],
        ["169.254.169.254"],
        ["::1"],
        ["93.184.215.14", "192.168.1.10"],
        ["::ffff:10.0.0.1"],
        ["2002:a00:1::"],
        ["224.0.0.1"],
    ],
)
def test_hosts_with_a_non_public_address_are_refused(build, monkeypatch, addresses):
    """Even with loopback allowed (development), private, link-local and mixed answers never pass."""
    real = socket.getaddrinfo
    connected = []

    def fake(host, port, *args, **kwargs):
        if host != "agents.example":
            return real(host, port, *args, **kwargs)
        families = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(families[6 if ":" in a else 4], socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", fake)
    monkeypatch.setattr(client_metadata_fetch, "pinned_pool", lambda *args, **kwargs: connected.append(args))
    rp = build(CLIENT_ID_METADATA_ALLOW_LOOPBACK=addresses != ["::1"])

    assert_unknown_client(rp.authorize(rp.request(as_client("https://agents.example/client.json"))))
    assert connected == []


def test_the_connection_goes_to_the_vetted_address_with_the_hostname_for_tls(monkeypatch):
    monkeypatch.setattr(outbound.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))])
    pool = outbound.pinned_pool(urlsplit("https://agents.example/c.json"), "93.184.215.14", 443, timeout=3)
    assert pool.host == "93.184.215.14"
    assert pool.conn_kw["server_hostname"] == "agents.example" and pool.assert_hostname == "agents.example"
    assert outbound.vetted_address("agents.example", 443, allow_loopback=False) == "93.184.215.14"


def test_private_key_jwt_with_inline_keys_makes_a_confidential_client(app):
    url = "https://agents.example/c.json"
    document = {"client_id": url, "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt"}
    spec = client_metadata.client_spec({**document, "jwks": {"keys": [EC_KEY]}}, url, "agents.example", app.config)
    assert spec.is_confidential and spec.jwks == {"keys": [EC_KEY]} and spec.name == "agents.example"


# --- production ---


@pytest.mark.parametrize("setting", ["IDP_CLIENT_ID_METADATA_ALLOW_HTTP", "IDP_CLIENT_ID_METADATA_ALLOW_LOOPBACK"])
def test_production_refuses_the_development_settings_at_start_up(monkeypatch, tmp_path, setting):
    for name in [name for name in os.environ if name.startswith("IDP_")]:
        monkeypatch.delenv(name)
    safe = {
        "IDP_ENV": "production",
        "IDP_ISSUER": "https://id.example.com",
        "IDP_SECRET_KEY": "s" * 48,
        "IDP_DATABASE_URL": "postgresql+psycopg://idp@127.0.0.1:5432/idp",
        "IDP_SMTP_HOST": "mail.example.com",
        "IDP_INSTANCE_DIR": str(tmp_path),
        "IDP_CLIENT_ID_METADATA_DOCUMENTS": "1",
    }
    for name, value in safe.items():
        monkeypatch.setenv(name, value)
    assert Config().CLIENT_ID_METADATA_DOCUMENTS is True  # the feature itself is fine in production
    monkeypatch.setenv(setting, "1")
    with pytest.raises(ConfigError, match=setting):
        Config()
