"""Loopback upstream providers for the social sign-in tests (a pytest plugin: helpers and session fixtures).

The IdP signs people in with GitHub, Discord, Google or any OpenID provider as an OAuth/OIDC
*client*. No test may reach the internet, so the upstreams live here, on 127.0.0.1:

- ``FakeSocialServer`` (fixture ``fake_social``): one threaded werkzeug server playing GitHub
  (``/github``, ``/github-api``) and Discord (``/discord``) with the providers' documented request
  and response shapes, including their quirks (GitHub answers token errors with HTTP 200).
- ``UpstreamIdP`` (fixture ``upstream_idp``): a second, real instance of this IdP under gunicorn, as
  the generic OIDC upstream, served at ``http://127.0.0.1:PORT``; the downstream IdP of the browser
  tests runs on ``localhost``, and cookies ignore ports, so the two differ by host.
- ``UpstreamBrowser``: a ``requests`` session that signs in and answers consent at the upstream IdP
  and hands back the callback URL meant for the downstream.

Load with ``pytest_plugins = ["tests.upstreams"]`` in tests/conftest.py, or ``-p tests.upstreams``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from flask import Flask, Response, jsonify, redirect, request
from sqlalchemy import func, update
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app.models import User
from app.models.base import utcnow
from tests.e2e import server as live
from tests.e2e.server import LiveServer
from tests.mailbox import SmtpServer, free_port

KINDS = ("github", "discord")
CODE_LIFETIME_SECONDS = 600  # GitHub's codes live 10 minutes; Discord's are as short or shorter
HTTP_TIMEOUT = 10
GITHUB_DOCS = "https://docs.github.com"  # only ever written into error_uri values, never requested
_GITHUB_TROUBLESHOOTING = f"{GITHUB_DOCS}/apps/managing-oauth-apps/troubleshooting"
GITHUB_ACCESS_DENIED_URI = f"{_GITHUB_TROUBLESHOOTING}-authorization-request-errors/#access-denied"
GITHUB_BAD_CODE_URI = f"{_GITHUB_TROUBLESHOOTING}-oauth-app-access-token-request-errors/#bad-verification-code"
GITHUB_BAD_CLIENT_URI = f"{_GITHUB_TROUBLESHOOTING}-oauth-app-access-token-request-errors/#incorrect-client-credentials"
GITHUB_REDIRECT_MISMATCH_URI = f"{_GITHUB_TROUBLESHOOTING}-oauth-app-access-token-request-errors/#redirect-uri-mismatch"
DISCORD_UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}
UPSTREAM_PASSWORD = "amber glacier whistles softly"  # passes the password policy; no part of the addresses below
UPSTREAM_SCOPE = "openid profile email"
_ALNUM = string.ascii_letters + string.digits
_UNSET: object = object()


# --------------------------------------------------------------------------------------------
# Accounts, apps and the server's bookkeeping
# --------------------------------------------------------------------------------------------


def _unique_suffix() -> str:
    return secrets.token_hex(4)


def _random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass
class GitHubEmail:
    """One row of GitHub's ``GET /user/emails``."""

    email: str
    primary: bool = False
    verified: bool = True
    visibility: str | None = "private"  # "public", "private", or None for a non-primary address

    def as_json(self) -> dict[str, object]:
        return {"email": self.email, "primary": self.primary, "verified": self.verified, "visibility": self.visibility}


@dataclass
class GitHubAccount:
    """A person at GitHub. ``email`` is the *public* profile email (None when they hide it)."""

    id: int
    login: str
    name: str | None
    email: str | None
    emails: list[GitHubEmail] = field(default_factory=list)

    @classmethod
    def new(cls, **profile: object) -> GitHubAccount:
        """Unique id and login by default, one primary verified public address; any field can be given.

        ``emails`` may hold ``GitHubEmail`` objects or dicts. When ``email`` is not given it is the
        primary address if that one is public, as on GitHub; pass ``email=None`` to hide it.
        """
        unknown = set(profile) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown GitHub account fields: {sorted(unknown)}")
        login = str(profile.get("login") or f"octo-{_unique_suffix()}")
        given = profile.get("emails") or []
        emails = [e if isinstance(e, GitHubEmail) else GitHubEmail(**e) for e in given]  # type: ignore[union-attr]
        if "emails" not in profile:
            emails = [GitHubEmail(f"{login}@example.com", primary=True, verified=True, visibility="public")]
        email = profile.get("email", _UNSET)
        if email is _UNSET:
            email = next((e.email for e in emails if e.primary and e.visibility == "public"), None)
        return cls(
            id=int(profile.get("id") or secrets.randbelow(10**9) + 10**8),  # type: ignore[arg-type]
            login=login,
            name=profile.get("name", "Octo Cat"),  # type: ignore[arg-type]
            email=email,  # type: ignore[arg-type]
            emails=emails,
        )

    def user_json(self, base_url: str) -> dict[str, object]:
        """``GET /user`` as GitHub documents it (the fields a sign-in may read, plus the usual rest)."""
        return {
            "login": self.login,
            "id": self.id,
            "node_id": base64.b64encode(f"04:User{self.id}".encode()).decode(),
            "avatar_url": f"{base_url}/github-avatars/u/{self.id}?v=4",
            "gravatar_id": "",
            "url": f"{base_url}/github-api/users/{self.login}",
            "html_url": f"{base_url}/github/{self.login}",
            "type": "User",
            "site_admin": False,
            "name": self.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": self.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }


@dataclass
class DiscordAccount:
    """A person at Discord: ``discriminator`` "0" for the new unique usernames, e.g. "1234" for legacy tags."""

    id: str
    username: str
    discriminator: str
    global_name: str | None
    avatar: str | None
    email: str | None
    verified: bool

    @classmethod
    def new(cls, **profile: object) -> DiscordAccount:
        """Unique snowflake and username by default, new-style (discriminator "0"), verified email."""
        unknown = set(profile) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown Discord account fields: {sorted(unknown)}")
        username = str(profile.get("username") or f"user_{_unique_suffix()}")
        return cls(
            id=str(profile.get("id") or secrets.randbelow(9 * 10**17) + 10**17),
            username=username,
            discriminator=str(profile.get("discriminator", "0")),
            global_name=profile.get("global_name", "Discord Person"),  # type: ignore[arg-type]
            avatar=profile.get("avatar", secrets.token_hex(16)),  # type: ignore[arg-type]
            email=profile.get("email", f"{username}@example.com"),  # type: ignore[arg-type]
            verified=bool(profile.get("verified", True)),
        )

    @classmethod
    def legacy(cls, **profile: object) -> DiscordAccount:
        """A pre-2023 account with a four-digit tag (``name#1234``)."""
        profile.setdefault("discriminator", f"{secrets.randbelow(9000) + 1000}")
        return cls.new(**profile)

    def me_json(self, scopes: set[str]) -> dict[str, object]:
        """``GET /users/@me``: ``email`` and ``verified`` only with the ``email`` scope, as Discord does."""
        body: dict[str, object] = {
            "id": self.id,
            "username": self.username,
            "discriminator": self.discriminator,
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "mfa_enabled": False,
            "locale": "en-US",
            "premium_type": 0,
        }
        if "email" in scopes:
            body["email"] = self.email
            body["verified"] = self.verified
        return body


Account = GitHubAccount | DiscordAccount


@dataclass(frozen=True)
class OAuthApp:
    kind: str
    client_id: str
    client_secret: str
    redirect_uri: str
    name: str


@dataclass(frozen=True)
class _Authorization:
    """What an authorize request asked for; codes and tokens inherit it."""

    kind: str
    client_id: str
    redirect_uri: str
    state: str
    scopes: tuple[str, ...]
    account: Account
    code_challenge: str | None


@dataclass(frozen=True)
class _Code:
    grant: _Authorization
    expires_at: float


@dataclass(frozen=True)
class _Token:
    kind: str
    client_id: str
    account: Account
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    args: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]


class _QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's access log would attach a stderr handler mid-test; the server keeps ``log`` lines instead."""

    def log(self, type: str, message: str, *args: object) -> None:  # noqa: A002 (werkzeug's signature)
        self.server.log_lines.append(f"{type}: {message % args}")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Small protocol helpers
# --------------------------------------------------------------------------------------------


def with_query(url: str, params: dict[str, str]) -> str:
    """Add parameters to a URL that may already have a query (redirect URIs may)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_params(url: str) -> dict[str, str]:
    """A callback URL's query as a dict; fails when a parameter repeats (ambiguous for a client)."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a parameter repeats in {url}"
    return dict(pairs)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _split_scopes(raw: str | None) -> tuple[str, ...]:
    """GitHub accepts spaces or commas between scopes; Discord uses spaces."""
    return tuple(dict.fromkeys((raw or "").replace(",", " ").split()))


def _page(status: int, title: str, text: str) -> Response:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f'<p id="error">{html.escape(text)}</p></body></html>'
    )
    return Response(body, status=status, mimetype="text/html")


def _authorize_page(app: OAuthApp, who: str, action: str, request_id: str) -> Response:
    heading = f"Authorize {app.name} to use your account {who}"
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(heading)}</title></head>
<body>
  <h1>Authorize <span id="app-name">{html.escape(app.name)}</span>
    to use your account <span id="account">{html.escape(who)}</span></h1>
  <form method="post" action="{html.escape(action)}">
    <input type="hidden" name="request_id" value="{html.escape(request_id)}">
    <button type="submit" name="decision" value="authorize" id="authorize">Authorize</button>
    <button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
  </form>
</body></html>
"""
    return Response(body, status=200, mimetype="text/html")


def _client_credentials() -> tuple[str | None, str | None]:
    """client_secret_basic (RFC 6749 2.3.1: form-encoded inside Basic) or client_secret_post.

    Both at once must agree; a mismatch yields no credentials rather than picking one.
    """
    form_id, form_secret = request.form.get("client_id"), request.form.get("client_secret")
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return form_id, form_secret
    basic_id, basic_secret = unquote(auth.username or ""), unquote(auth.password or "")
    if (form_id and form_id != basic_id) or (form_secret and form_secret != basic_secret):
        return None, None
    return basic_id, basic_secret


def _bearer_token(*, allow_token_scheme: bool) -> str | None:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    schemes = {"bearer", "token"} if allow_token_scheme else {"bearer"}
    return (value.strip() or None) if scheme.lower() in schemes else None


def _visible_text(page: str, limit: int = 800) -> str:
    collector = _TextCollector()
    collector.feed(page)
    text = " ".join(" ".join(collector.parts).split())
    return text[:limit] + ("…" if len(text) > limit else "")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


class PageError(AssertionError):
    """An upstream showed a page the helper did not expect; the message carries a snippet of it."""

    @classmethod
    def of(cls, problem: str, response: requests.Response) -> PageError:
        return cls(f"{problem}\n  {response.status_code} {response.url}\n  page: {_visible_text(response.text)}")


# --------------------------------------------------------------------------------------------
# Fake GitHub + Discord
# --------------------------------------------------------------------------------------------


class FakeSocialServer:
    """GitHub and Discord on one loopback port, werkzeug's threaded server in a daemon thread.

    Tests register their own apps and accounts with unique ids, so they share one server.
    ``sign_in_as`` picks who the authorize page approves as: the person "signed in at GitHub".
    """

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self.now = now  # replaceable, so a test can age codes past their lifetime without sleeping
        self._lock = threading.Lock()
        self._apps: dict[str, dict[str, OAuthApp]] = {kind: {} for kind in KINDS}
        self._accounts: dict[str, list[Account]] = {kind: [] for kind in KINDS}
        self._signed_in: dict[str, Account | None] = {kind: None for kind in KINDS}
        self._pending: dict[str, _Authorization] = {}
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}
        self._requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # unexpected exceptions inside the fake: a self-check asserts none
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        server = make_server("127.0.0.1", 0, self._build_app(), threaded=True, request_handler=_QuietRequestHandler)
        server.log_lines = []  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-social", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()  # returns once serve_forever has left its loop
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def github_url(self) -> str:
        """The IdP's GitHub "web" URL setting."""
        return f"{self.base_url}/github"

    @property
    def github_api_url(self) -> str:
        """The IdP's GitHub API URL setting."""
        return f"{self.base_url}/github-api"

    @property
    def discord_url(self) -> str:
        """The IdP's Discord base URL setting."""
        return f"{self.base_url}/discord"

    def authorize_endpoint(self, kind: str) -> str:
        return {"github": f"{self.github_url}/login/oauth/authorize", "discord": f"{self.discord_url}/oauth2/authorize"}[kind]

    def token_endpoint(self, kind: str) -> str:
        return {"github": f"{self.github_url}/login/oauth/access_token", "discord": f"{self.discord_url}/api/oauth2/token"}[kind]

    # -- what tests set up -------------------------------------------------------------------

    def add_app(self, kind: str, client_id: str, client_secret: str, redirect_uri: str, *, name: str | None = None) -> OAuthApp:
        """Register an OAuth app; its one redirect URI must match authorize requests exactly."""
        _check_kind(kind)
        app = OAuthApp(kind, client_id, client_secret, redirect_uri, name or f"Test app {client_id}")
        with self._lock:
            self._apps[kind][client_id] = app
        return app

    def add_account(self, kind: str, **profile: object) -> Account:
        """A person at the provider; unspecified fields get unique defaults (see ``GitHubAccount.new``)."""
        _check_kind(kind)
        account = GitHubAccount.new(**profile) if kind == "github" else DiscordAccount.new(**profile)
        with self._lock:
            self._accounts[kind].append(account)
        return account

    def sign_in_as(self, kind: str, account: Account | None) -> None:
        """Whom the authorize page approves as from now on (None: nobody signed in there)."""
        _check_kind(kind)
        with self._lock:
            self._signed_in[kind] = account

    def reset(self) -> None:
        """Forget recorded requests and pending codes (and unanswered authorize pages); apps, accounts and tokens stay."""
        with self._lock:
            self._requests.clear()
            self._codes.clear()
            self._pending.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    # -- the person's side, without a browser ------------------------------------------------

    def approve(self, authorize_url: str, deny: bool = False) -> str:
        """GET the authorize page, press Authorize (or Cancel), return the callback URL from Location."""
        with requests.Session() as http:
            http.trust_env = False  # no proxy between us and loopback
            page = http.get(authorize_url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            if page.status_code != 200 or 'name="request_id"' not in page.text:
                raise PageError.of("the fake authorize page did not show", page)
            form = _FormParser.parse(page.text)[0]
            data = {**form.inputs, "decision": "cancel" if deny else "authorize"}
            answer = http.post(urljoin(page.url, form.action), data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
        if answer.status_code != 302:
            raise PageError.of("the fake authorize page did not redirect", answer)
        return answer.headers["Location"]

    # -- the web app -------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(__name__)
        app.before_request(self._record)
        app.register_error_handler(InternalServerError, self._on_error)
        both = ["GET", "POST"]
        app.add_url_rule("/github/login/oauth/authorize", "github_authorize", lambda: self._authorize("github"), methods=both)
        app.add_url_rule("/github/login/oauth/access_token", "github_token", self._github_token, methods=["POST"])
        app.add_url_rule("/github-api/user", "github_user", self._github_user)
        app.add_url_rule("/github-api/user/emails", "github_emails", self._github_emails)
        app.add_url_rule("/discord/oauth2/authorize", "discord_authorize", lambda: self._authorize("discord"), methods=both)
        app.add_url_rule("/discord/api/oauth2/token", "discord_token", self._discord_token, methods=["POST"])
        app.add_url_rule("/discord/api/users/@me", "discord_me", self._discord_me)
        return app

    def _record(self) -> None:
        entry = RecordedRequest(
            request.method, request.path, request.args.to_dict(), request.form.to_dict(), dict(request.headers.items())
        )
        with self._lock:
            self._requests.append(entry)

    def _on_error(self, error: InternalServerError) -> tuple[Response, int]:
        self.errors.append(repr(error.original_exception or error))
        return jsonify(message="fake upstream crashed", error=repr(error.original_exception)), 500

    # authorize ---------------------------------------------------------------------------------

    def _authorize(self, kind: str) -> Response:
        return self._authorize_answer(kind) if request.method == "POST" else self._authorize_page(kind)

    def _authorize_page(self, kind: str) -> Response:
        """Validate like the provider, then show the page; a bad client or redirect URI never redirects."""
        args = request.args
        with self._lock:
            app = self._apps[kind].get(args.get("client_id", ""))
            account = self._signed_in[kind]
        if app is None:
            return _page(400, "Unknown application", "No OAuth app has this client_id.")
        if args.get("redirect_uri") != app.redirect_uri:
            return _page(400, "Redirect URI mismatch", "The redirect_uri is not the one registered for this app.")
        problem = _authorize_problem(kind, args)
        if problem:
            return _page(400, "Invalid request", problem)
        if account is None:
            return _page(401, "Not signed in", f"Nobody is signed in at the fake {kind}: call sign_in_as() first.")
        scopes = _split_scopes(args.get("scope"))
        grant = _Authorization(kind, app.client_id, app.redirect_uri, args["state"], scopes, account, args.get("code_challenge"))
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[request_id] = grant
        who = account.login if isinstance(account, GitHubAccount) else account.username
        return _authorize_page(app, who, request.path, request_id)

    def _authorize_answer(self, kind: str) -> Response:
        with self._lock:
            grant = self._pending.pop(request.form.get("request_id", ""), None)
        if grant is None or grant.kind != kind:
            return _page(400, "Expired request", "This authorization request is unknown or was already answered.")
        decision = request.form.get("decision")
        if decision == "cancel":
            return redirect(with_query(grant.redirect_uri, _denial(kind, grant.state)), code=302)
        if decision != "authorize":
            return _page(400, "Invalid request", "Press Authorize or Cancel.")
        code = secrets.token_hex(10)
        with self._lock:
            self._codes[code] = _Code(grant, self.now() + CODE_LIFETIME_SECONDS)
        return redirect(with_query(grant.redirect_uri, {"code": code, "state": grant.state}), code=302)

    # token -------------------------------------------------------------------------------------

    def _redeem(
        self, kind: str, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> tuple[_Authorization | None, str]:
        """Single use: the code is gone whatever the outcome. Returns the grant, or None and the reason."""
        with self._lock:
            entry = self._codes.pop(request.form.get("code", ""), None)
        if entry is None or entry.expires_at <= self.now() or entry.grant.kind != kind or entry.grant.client_id != client_id:
            return None, "code"
        if redirect_uri is not None and redirect_uri != entry.grant.redirect_uri:
            return None, "redirect_uri"
        if entry.grant.code_challenge is not None and (not verifier or s256(verifier) != entry.grant.code_challenge):
            return None, "code_verifier"
        return entry.grant, ""

    def _issue(self, grant: _Authorization, token: str) -> None:
        with self._lock:
            self._tokens[token] = _Token(grant.kind, grant.client_id, grant.account, grant.scopes)

    def _app_for(self, kind: str, client_id: str | None, secret: str | None) -> OAuthApp | None:
        with self._lock:
            app = self._apps[kind].get(client_id or "")
        return app if app is not None and secret is not None and secrets.compare_digest(app.client_secret, secret) else None

    def _github_token(self) -> Response:
        client_id, secret = _client_credentials()
        app = self._app_for("github", client_id, secret)
        if app is None:
            description = "The client_id and/or client_secret passed are incorrect."
            return _github_token_answer(_github_error("incorrect_client_credentials", description, GITHUB_BAD_CLIENT_URI))
        grant, reason = self._redeem("github", app.client_id, request.form.get("redirect_uri"), request.form.get("code_verifier"))
        if grant is None:
            return _github_token_answer(_GITHUB_TOKEN_ERRORS[reason])
        token = "gho_" + _random_alnum(36)
        self._issue(grant, token)
        return _github_token_answer({"access_token": token, "token_type": "bearer", "scope": ",".join(grant.scopes)})

    def _discord_token(self) -> Response | tuple[Response, int]:
        client_id, secret = _client_credentials()
        app = self._app_for("discord", client_id, secret)
        if app is None:
            return jsonify(error="invalid_client"), 401
        if request.form.get("grant_type") != "authorization_code":
            return jsonify(error="unsupported_grant_type"), 400
        redirect_uri = request.form.get("redirect_uri") or ""  # Discord requires it on the exchange
        grant, reason = self._redeem("discord", app.client_id, redirect_uri, request.form.get("code_verifier"))
        if grant is None:
            return jsonify(error="invalid_grant", error_description=f'Invalid "{reason}" in request.'), 400
        token = _random_alnum(30)
        self._issue(grant, token)
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 604800,
            "refresh_token": _random_alnum(30),
            "scope": " ".join(grant.scopes),
        }
        return jsonify(body)

    # APIs --------------------------------------------------------------------------------------

    def _token_for(self, kind: str) -> _Token | None:
        value = _bearer_token(allow_token_scheme=kind == "github")
        with self._lock:
            token = self._tokens.get(value or "")
        return token if token is not None and token.kind == kind else None

    def _github_user(self) -> Response | tuple[Response, int]:
        token = self._token_for("github")
        if token is None:
            return _github_unauthorized()
        assert isinstance(token.account, GitHubAccount)
        return jsonify(token.account.user_json(self.base_url))

    def _github_emails(self) -> Response | tuple[Response, int]:
        token = self._token_for("github")
        if token is None:
            return _github_unauthorized()
        if not {"user", "user:email"} & set(token.scopes):
            return jsonify(message="Not Found", documentation_url=f"{GITHUB_DOCS}/rest", status="404"), 404
        assert isinstance(token.account, GitHubAccount)
        return jsonify([e.as_json() for e in token.account.emails])

    def _discord_me(self) -> Response | tuple[Response, int]:
        token = self._token_for("discord")
        if token is None or "identify" not in token.scopes:
            return jsonify(DISCORD_UNAUTHORIZED), 401
        assert isinstance(token.account, DiscordAccount)
        return jsonify(token.account.me_json(set(token.scopes)))


def _github_error(error: str, description: str, uri: str) -> dict[str, str]:
    return {"error": error, "error_description": description, "error_uri": uri}


_GITHUB_TOKEN_ERRORS = {
    "code": _github_error("bad_verification_code", "The code passed is incorrect or expired.", GITHUB_BAD_CODE_URI),
    "code_verifier": _github_error(
        "bad_verification_code", "The code_verifier does not match the code_challenge.", GITHUB_BAD_CODE_URI
    ),
    "redirect_uri": _github_error(
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
        GITHUB_REDIRECT_MISMATCH_URI,
    ),
}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


def _authorize_problem(kind: str, args) -> str | None:
    """What the provider would refuse in an authorize request once client and redirect URI are known good."""
    if args.get("response_type") != "code":
        return "response_type must be code."
    if not args.get("state"):
        return "state is required."
    challenge, method = args.get("code_challenge"), args.get("code_challenge_method")
    if (challenge or method) and (not challenge or method != "S256"):
        return "PKCE needs a code_challenge with code_challenge_method=S256."
    if kind == "discord" and not _split_scopes(args.get("scope")):
        return "Discord needs at least one scope."
    return None


def _denial(kind: str, state: str) -> dict[str, str]:
    if kind == "github":
        return {
            "error": "access_denied",
            "error_description": "The user has denied your application access.",
            "error_uri": GITHUB_ACCESS_DENIED_URI,
            "state": state,
        }
    description = "The resource owner or authorization server denied the request"
    return {"error": "access_denied", "error_description": description, "state": state}


def _github_token_answer(body: dict[str, str]) -> Response:
    """GitHub answers 200 for errors too; JSON when asked (Authlib asks), else form-encoded (its default)."""
    if "json" in (request.headers.get("Accept") or ""):
        return jsonify(body)
    return Response(urlencode(body), status=200, mimetype="application/x-www-form-urlencoded")


def _github_unauthorized() -> tuple[Response, int]:
    return jsonify(message="Bad credentials", documentation_url=f"{GITHUB_DOCS}/rest", status="401"), 401


# --------------------------------------------------------------------------------------------
# A second instance of this IdP as the generic OIDC upstream
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamPerson:
    email: str
    password: str
    name: str


@dataclass
class UpstreamIdP(LiveServer):
    """This IdP under gunicorn at ``http://127.0.0.1:PORT``, with its own database; ``flask`` runs against it."""

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def register_client(self, redirect_uris: list[str], *, first_party: bool = False, name: str | None = None) -> tuple[str, str]:
        """A confidential authorization-code client (``flask clients create``); returns (client_id, client_secret)."""
        args = ["clients", "create", "--name", name or f"Downstream {secrets.token_hex(3)}", "--type", "confidential"]
        for uri in redirect_uris:
            args += ["--redirect-uri", uri]
        args += ["--grant", "authorization_code", "--scope", UPSTREAM_SCOPE]
        if first_party:
            args.append("--first-party")
        data = json.loads([line for line in self.flask(*args).splitlines() if line.startswith("{")][-1])
        return data["client_id"], data["client_secret"]

    def create_person(
        self, email: str | None = None, password: str = UPSTREAM_PASSWORD, name: str = "Grace Hopper", verified: bool = True
    ) -> UpstreamPerson:
        """``flask users create`` (a verified account); ``verified=False`` then clears the confirmation.

        Note: this IdP refuses to authorize an unconfirmed account ("Confirm your email address first").
        To get ``email_verified: false`` into an ID token, consent while verified, then call
        ``set_email_verified(email, False)`` before the downstream redeems the code (claims are read then).
        """
        person = UpstreamPerson(email or f"upstream-{secrets.token_hex(5)}@example.com", password, name)
        self.flask("users", "create", "--email", person.email, "--password", person.password, "--name", person.name)
        if not verified:
            self.set_email_verified(person.email, False)
        return person

    def set_email_verified(self, email: str, verified: bool) -> None:
        """Write ``email_verified_at`` straight into the upstream's database."""
        statement = (
            update(User).where(func.lower(User.email) == email.lower()).values(email_verified_at=utcnow() if verified else None)
        )
        with self.engine.begin() as connection:
            changed = connection.execute(statement).rowcount
        assert changed == 1, f"no upstream account {email}"

    def browser(self) -> UpstreamBrowser:
        return UpstreamBrowser(self.url)


def _upstream_env(port: int, database_url: str, instance_dir: Path, smtp_port: int) -> dict[str, str]:
    """The e2e server's configuration, but served by IP, with its own Redis key prefixes."""
    env = live.server_env(port, database_url, instance_dir, smtp_port)
    env["IDP_ISSUER"] = f"http://127.0.0.1:{port}"
    env["IDP_SERVICE_NAME"] = "Upstream"
    # With Redis, both IdPs would otherwise count rate limits and keep deny-lists under one prefix.
    prefix = f"upstream-{secrets.token_hex(4)}"
    env["IDP_RATELIMIT_KEY_PREFIX"] = prefix
    env["IDP_REDIS_KEY_PREFIX"] = prefix
    return env


@pytest.fixture(scope="session")
def upstream_idp(smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamIdP]:
    """Started once per run; stopped (only the PID started here) and its database dropped at the end."""
    port = free_port()

    def make_env(database_url: str, instance_dir: Path) -> dict[str, str]:
        return _upstream_env(port, database_url, instance_dir, smtp_server.port)

    with live.running_instance(tmp_path_factory.mktemp("upstream-idp"), port, make_env, UpstreamIdP) as server:
        yield server


@pytest.fixture(scope="session")
def fake_social() -> Iterator[FakeSocialServer]:
    server = FakeSocialServer()
    server.start()
    yield server
    server.stop()


# --------------------------------------------------------------------------------------------
# Driving the upstream IdP's pages without a browser
# --------------------------------------------------------------------------------------------


@dataclass
class _Form:
    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """Forms with their named inputs (attribute values come back unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    @classmethod
    def parse(cls, page: str) -> list[_Form]:
        parser = cls()
        parser.feed(page)
        parser.close()
        return parser.forms

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = _Form(values.get("action", ""), values.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and values.get("name"):
            self._current.inputs[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


MAX_STEPS = 12


class UpstreamBrowser:
    """A person at the upstream IdP, via ``requests``: cookies persist, redirects are followed by hand.

    Only redirects within the upstream are followed; the first one leaving it is the authorization
    response for the downstream, returned unvisited (nothing need listen there).
    """

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        self.history: list[tuple[str, str, int]] = []  # (method, url, status) of every request made

    def __enter__(self) -> UpstreamBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def authorize(self, authorize_url: str, email: str, password: str = UPSTREAM_PASSWORD, *, consent: bool | None = True) -> str:
        """Sign in if asked, answer consent, return the callback URL (code and state, or an error).

        consent=True approves the consent page if it shows; False denies and requires the page;
        None requires that no consent page shows (a first-party client, or consent remembered).
        """
        response = self._request("GET", authorize_url)
        signed_in = answered = False
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                target = urljoin(response.url, response.headers["Location"])
                if not self._is_upstream(target):
                    if consent is False and not answered:
                        raise PageError.of("consent=False, but the upstream answered without a consent page", response)
                    return target
                response = self._request("GET", target)
                continue
            forms = _FormParser.parse(response.text) if response.status_code == 200 else []
            login = _find_form(forms, lambda f: urlsplit(f.action).path == "/login" and "password" in f.inputs)
            decision = _find_form(forms, lambda f: f.inputs.get("decision") == ("deny" if consent is False else "approve"))
            if login is not None:
                if signed_in:
                    raise PageError.of(f"signing in as {email} at the upstream failed", response)
                response = self._submit(response, login, {"email": email, "password": password})
                signed_in = True
            elif decision is not None:
                if consent is None or answered:
                    raise PageError.of("unexpected consent page at the upstream (consent=None)", response)
                response = self._submit(response, decision, {})
                answered = True
            else:
                raise PageError.of("unexpected page at the upstream", response)
        raise PageError.of(f"no way out of the upstream after {MAX_STEPS} steps", response)

    def _is_upstream(self, url: str) -> bool:
        parts, mine = urlsplit(url), urlsplit(self.upstream_url)
        return (parts.scheme, parts.netloc) == (mine.scheme, mine.netloc)

    def _request(self, method: str, url: str, data: dict[str, str] | None = None) -> requests.Response:
        response = self.session.request(method, url, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
        self.history.append((method, url, response.status_code))
        return response

    def _submit(self, page: requests.Response, form: _Form, values: dict[str, str]) -> requests.Response:
        return self._request(form.method.upper(), urljoin(page.url, form.action), {**form.inputs, **values})


def _find_form(forms: list[_Form], matches: Callable[[_Form], bool]) -> _Form | None:
    return next((form for form in forms if matches(form)), None)
