"""Upstream sign-in providers: their settings, their Authlib clients, and who a callback says the person is.

Four kinds: Google and any OpenID Connect provider (discovery, an ID token checked for signature,
issuer, audience, expiry and nonce), GitHub (OAuth 2; the profile from /user and the verified primary
address from /user/emails) and Discord (OAuth 2; /users/@me). Every request upstream carries `state`
and a PKCE S256 challenge; OIDC requests carry a `nonce` too (Authlib adds both and checks them).
The settings come from ``IDP_SOCIAL_<NAME>_*`` (app.config.social_settings); each kind says which it takes.
The browser's round trip to a provider (redirect, callback, journey) is app.web.social's.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_COMMON_SETTINGS = {"client_id", "client_secret", "display_name", "scope", "type"}
_CLIENT_KWARGS = {"code_challenge_method": "S256"}


class ProviderConfigError(RuntimeError):
    """A provider's settings are incomplete or misspelt; the app refuses to start rather than half-work."""


class UpstreamDenied(Exception):
    """The person said no at the provider (or the provider refused the request); ``error`` is its code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class UpstreamFailed(Exception):
    """The provider's answer could not be used: network, token exchange, ID token or profile problems."""


@dataclass(frozen=True)
class UpstreamIdentity:
    """Who the provider says signed in. ``subject`` is the provider's stable id; the rest may change."""

    subject: str
    email: str = ""
    email_verified: bool = False
    username: str = ""
    name: str = ""
    auth_time: int | None = None  # when the person last proved themselves upstream (OIDC auth_time), if said


@dataclass(frozen=True)
class Provider:
    """One configured provider; ``kind`` decides how its profile is read."""

    name: str
    kind: ProviderKind
    display_name: str
    settings: dict[str, str] = field(repr=False)

    @property
    def icon(self) -> str:
        return f"social/{self.kind.icon}.svg"

    def client(self):
        return current_app.extensions["social_oauth"].create_client(self.name)


class ProviderKind(ABC):
    """How to talk to one kind of provider. Subclasses set the defaults and read the profile."""

    key = ""
    icon = ""
    default_display_name = ""
    extra_settings: frozenset[str] = frozenset()
    default_scope = ""
    is_oidc = False

    def check(self, name: str, settings: dict[str, str]) -> None:
        """Raise ProviderConfigError for a missing or unknown setting (a typo must not pass silently)."""
        unknown = set(settings) - _COMMON_SETTINGS - self.extra_settings
        if unknown:
            keys = ", ".join(f"IDP_SOCIAL_{name.upper()}_{key.upper()}" for key in sorted(unknown))
            raise ProviderConfigError(f"unknown setting(s) for provider {name!r}: {keys}")
        for required in ("client_id", "client_secret"):
            if not settings.get(required):
                raise ProviderConfigError(f"IDP_SOCIAL_{name.upper()}_{required.upper()} must be set")

    @abstractmethod
    def registration(self, settings: dict[str, str]) -> dict[str, Any]:
        """Keyword arguments for Authlib's ``OAuth.register`` besides the client id and secret."""

    @abstractmethod
    def identity(self, client, token: dict[str, Any]) -> UpstreamIdentity:
        """Read who signed in, from the token response (and the provider's API where needed)."""


class OidcKind(ProviderKind):
    """Any OpenID Connect provider: discovery document, validated ID token, userinfo when the token lacks email."""

    key = "oidc"
    icon = "openid"
    default_display_name = ""
    is_oidc = True
    extra_settings = frozenset({"issuer", "discovery_url"})
    default_scope = "openid email profile"

    def check(self, name: str, settings: dict[str, str]) -> None:
        super().check(name, settings)
        if not (settings.get("issuer") or settings.get("discovery_url") or self.default_discovery_url):
            raise ProviderConfigError(f"IDP_SOCIAL_{name.upper()}_ISSUER or _DISCOVERY_URL must be set")

    default_discovery_url = ""

    def discovery_url(self, settings: dict[str, str]) -> str:
        if settings.get("discovery_url"):
            return settings["discovery_url"]
        if settings.get("issuer"):
            return settings["issuer"].rstrip("/") + "/.well-known/openid-configuration"
        return self.default_discovery_url

    def registration(self, settings: dict[str, str]) -> dict[str, Any]:
        return {"server_metadata_url": self.discovery_url(settings)}

    def identity(self, client, token: dict[str, Any]) -> UpstreamIdentity:
        claims = dict(token.get("userinfo") or {})
        if not claims.get("sub"):
            raise UpstreamFailed("the token response carried no ID token")
        if "email" not in claims and client.load_server_metadata().get("userinfo_endpoint"):
            extra = dict(client.userinfo(token=token))
            if extra.get("sub") != claims["sub"]:  # OIDC Core 5.3.2: a userinfo for someone else is discarded
                raise UpstreamFailed("userinfo is about another subject")
            claims = {**extra, **claims}
        return UpstreamIdentity(
            subject=str(claims["sub"]),
            email=_text(claims.get("email")),
            email_verified=claims.get("email_verified") is True,
            username=_text(claims.get("preferred_username") or claims.get("email")),
            name=_text(claims.get("name")),
            auth_time=claims["auth_time"] if isinstance(claims.get("auth_time"), int) else None,
        )


class GoogleKind(OidcKind):
    key = "google"
    icon = "google"
    default_display_name = "Google"
    default_discovery_url = "https://accounts.google.com/.well-known/openid-configuration"


class GitHubKind(ProviderKind):
    """GitHub's OAuth apps (github.com or an Enterprise Server, through the two base URLs)."""

    key = "github"
    icon = "github"
    default_display_name = "GitHub"
    extra_settings = frozenset({"web_url", "api_url"})
    default_scope = "read:user user:email"

    def registration(self, settings: dict[str, str]) -> dict[str, Any]:
        web = settings.get("web_url", "https://github.com").rstrip("/")
        return {
            "authorize_url": f"{web}/login/oauth/authorize",
            "access_token_url": f"{web}/login/oauth/access_token",
            "api_base_url": settings.get("api_url", "https://api.github.com").rstrip("/") + "/",
            # GitHub documents the secret in the form body.
            "token_endpoint_auth_method": "client_secret_post",
        }

    def identity(self, client, token: dict[str, Any]) -> UpstreamIdentity:
        user = _api_json(client, "user", token)
        emails = _api_json(client, "user/emails", token)
        if not isinstance(user, dict) or "id" not in user or not isinstance(emails, list):
            raise UpstreamFailed("unexpected GitHub profile")
        primary = next((e for e in emails if isinstance(e, dict) and e.get("primary")), {})
        return UpstreamIdentity(
            subject=str(user["id"]),  # the login can be renamed and reused; the numeric id cannot
            email=_text(primary.get("email")),
            email_verified=primary.get("verified") is True,
            username=_text(user.get("login")),
            name=_text(user.get("name") or user.get("login")),
        )


class DiscordKind(ProviderKind):
    key = "discord"
    icon = "discord"
    default_display_name = "Discord"
    extra_settings = frozenset({"base_url"})
    default_scope = "identify email"

    def registration(self, settings: dict[str, str]) -> dict[str, Any]:
        base = settings.get("base_url", "https://discord.com").rstrip("/")
        return {
            "authorize_url": f"{base}/oauth2/authorize",
            "access_token_url": f"{base}/api/oauth2/token",
            "api_base_url": f"{base}/api/",
        }

    def identity(self, client, token: dict[str, Any]) -> UpstreamIdentity:
        me = _api_json(client, "users/@me", token)
        if not isinstance(me, dict) or not me.get("id") or not me.get("username"):
            raise UpstreamFailed("unexpected Discord profile")
        return UpstreamIdentity(
            subject=str(me["id"]),
            email=_text(me.get("email")),
            email_verified=me.get("verified") is True,
            username=discord_handle(me),
            name=_text(me.get("global_name") or me["username"]),
        )


def discord_handle(me: dict[str, Any]) -> str:
    """Discord's two username formats: unique names (discriminator "0") and legacy ``name#1234``."""
    discriminator = str(me.get("discriminator") or "0")
    username = _text(me.get("username"))
    return username if discriminator in {"0", "0000"} else f"{username}#{discriminator}"


KINDS: dict[str, ProviderKind] = {kind.key: kind for kind in (GoogleKind(), GitHubKind(), DiscordKind(), OidcKind())}


def build_provider(name: str, settings: dict[str, str]) -> Provider:
    """A provider from its settings; its kind is TYPE, else its name when built in, else generic OIDC."""
    if not _NAME.match(name):
        raise ProviderConfigError(f"provider name {name!r}: use up to 32 letters, digits or underscores")
    kind_key = settings.get("type", name if name in KINDS else "oidc").lower()
    kind = KINDS.get(kind_key)
    if kind is None:
        raise ProviderConfigError(f"IDP_SOCIAL_{name.upper()}_TYPE must be one of {', '.join(sorted(KINDS))}")
    kind.check(name, settings)
    display_name = settings.get("display_name") or kind.default_display_name or name.replace("_", " ").title()
    return Provider(name=name, kind=kind, display_name=display_name[:60], settings=settings)


def init_providers(app: Flask) -> None:
    """Register every configured provider with an Authlib OAuth registry of this app's own."""
    # Authlib logs the PKCE verifier at DEBUG; a verifier is a secret, so its logger never goes below INFO.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger("authlib").getEffectiveLevel()))
    oauth = OAuth(app)
    providers: dict[str, Provider] = {}
    for name, settings in app.config["SOCIAL_PROVIDERS"].items():
        provider = build_provider(name, settings)
        if app.config["ENV_NAME"] == "production":
            _require_https(provider)
        client_kwargs = {
            **_CLIENT_KWARGS,
            "scope": settings.get("scope") or provider.kind.default_scope,
            "default_timeout": app.config["SOCIAL_TIMEOUT_SECONDS"],
        }
        registration = provider.kind.registration(settings)
        auth_method = registration.pop("token_endpoint_auth_method", None)
        if auth_method:
            client_kwargs["token_endpoint_auth_method"] = auth_method
        oauth.register(
            name,
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            client_kwargs=client_kwargs,
            **registration,
        )
        providers[name] = provider
    app.extensions["social_oauth"] = oauth
    app.extensions["social_providers"] = providers


_URL_SETTINGS = ("issuer", "discovery_url", "web_url", "api_url", "base_url")


def _require_https(provider: Provider) -> None:
    """In production the client secret, codes and tokens travel only over TLS (plain http is for tests)."""
    for key in _URL_SETTINGS:
        value = provider.settings.get(key, "")
        if value and not value.lower().startswith("https://"):
            raise ProviderConfigError(f"IDP_SOCIAL_{provider.name.upper()}_{key.upper()} must be an https URL in production")


def configured_providers() -> dict[str, Provider]:
    return current_app.extensions["social_providers"]


def find_provider(name: str) -> Provider | None:
    return configured_providers().get(name)


def _api_json(client, path: str, token: dict[str, Any]) -> Any:
    response = client.get(path, token=token)
    if response.status_code != 200:
        raise UpstreamFailed(f"{path}: HTTP {response.status_code}")
    return response.json()


def _text(value: Any, limit: int = 254) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""
