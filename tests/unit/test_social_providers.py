"""Provider settings and profiles without a network: what is configured, and what each kind reads as the identity."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.config import social_settings
from app.core.providers import (
    DiscordKind,
    GitHubKind,
    OidcKind,
    ProviderConfigError,
    UpstreamFailed,
    build_provider,
    discord_handle,
)

SECRET = {"client_id": "id-1", "client_secret": "secret-1"}


# --- settings -------------------------------------------------------------------------------------


def test_settings_group_by_provider_name_and_the_longest_name_wins() -> None:
    environ = {
        "IDP_SOCIAL_GITHUB_CLIENT_ID": "a",
        "IDP_SOCIAL_GITHUB_CLIENT_SECRET": "b",
        "IDP_SOCIAL_GITHUB_WORK_CLIENT_ID": "c",
        "IDP_SOCIAL_GITHUB_WORK_TYPE": "github",
        "IDP_SOCIAL_GITHUB_WORK_WEB_URL": "https://git.example.com",
        "IDP_SOCIAL_ORPHAN_ISSUER": "https://no-client-id.example",  # no client id: not a provider
        "IDP_OTHER": "x",
    }
    assert social_settings(environ) == {
        "github": {"client_id": "a", "client_secret": "b"},
        "github_work": {"client_id": "c", "type": "github", "web_url": "https://git.example.com"},
    }


def test_empty_values_are_left_out() -> None:
    assert social_settings({"IDP_SOCIAL_X_CLIENT_ID": "a", "IDP_SOCIAL_X_SCOPE": ""}) == {"x": {"client_id": "a"}}


@pytest.mark.parametrize(
    ("name", "kind", "display"),
    [("google", "google", "Google"), ("github", "github", "GitHub"), ("discord", "discord", "Discord")],
)
def test_built_in_names_get_their_profile(name: str, kind: str, display: str) -> None:
    provider = build_provider(name, dict(SECRET))
    assert provider.kind.key == kind
    assert provider.display_name == display
    assert provider.icon == f"social/{kind}.svg"


def test_any_other_name_is_generic_oidc_and_needs_an_issuer_or_discovery_url() -> None:
    with pytest.raises(ProviderConfigError, match="IDP_SOCIAL_CORP_ISSUER"):
        build_provider("corp", dict(SECRET))
    provider = build_provider("corp", {**SECRET, "issuer": "https://login.corp.example", "display_name": "Corp SSO"})
    assert provider.kind.key == "oidc"
    assert provider.display_name == "Corp SSO"
    assert provider.icon == "social/openid.svg"
    assert provider.kind.registration(provider.settings) == {
        "server_metadata_url": "https://login.corp.example/.well-known/openid-configuration"
    }


def test_a_discovery_url_wins_over_the_issuer() -> None:
    settings = {
        **SECRET,
        "issuer": "https://a.example",
        "discovery_url": "https://a.example/tenant/.well-known/openid-configuration",
    }
    assert OidcKind().registration(settings)["server_metadata_url"].endswith("/tenant/.well-known/openid-configuration")


def test_google_discovers_from_google_unless_told_otherwise() -> None:
    provider = build_provider("google", dict(SECRET))
    assert provider.kind.registration(provider.settings)["server_metadata_url"] == (
        "https://accounts.google.com/.well-known/openid-configuration"
    )


def test_type_picks_the_kind_for_another_name() -> None:
    provider = build_provider(
        "ghe", {**SECRET, "type": "github", "web_url": "https://git.example.com", "api_url": "https://git.example.com/api/v3"}
    )
    registration = provider.kind.registration(provider.settings)
    assert registration["authorize_url"] == "https://git.example.com/login/oauth/authorize"
    assert registration["access_token_url"] == "https://git.example.com/login/oauth/access_token"
    assert registration["api_base_url"] == "https://git.example.com/api/v3/"


@pytest.mark.parametrize(
    ("name", "settings", "problem"),
    [
        ("github", {"client_id": "a"}, "IDP_SOCIAL_GITHUB_CLIENT_SECRET must be set"),
        ("github", {**SECRET, "client_secrt": "typo"}, "IDP_SOCIAL_GITHUB_CLIENT_SECRT"),
        ("github", {**SECRET, "issuer": "https://x"}, "IDP_SOCIAL_GITHUB_ISSUER"),  # GitHub is not OIDC
        ("discord", {**SECRET, "web_url": "https://x"}, "IDP_SOCIAL_DISCORD_WEB_URL"),
        ("corp", {**SECRET, "issuer": "https://x", "type": "saml"}, "TYPE must be one of"),
        ("x" * 33, {**SECRET, "issuer": "https://x"}, "up to 32"),
    ],
)
def test_incomplete_or_misspelt_settings_stop_the_app(name: str, settings: dict, problem: str) -> None:
    with pytest.raises(ProviderConfigError, match=problem):
        build_provider(name, settings)


def test_the_app_refuses_to_start_with_a_broken_provider(app_factory) -> None:
    with pytest.raises(ProviderConfigError):
        app_factory(SOCIAL_PROVIDERS={"github": {"client_id": "only-an-id"}})


def test_production_refuses_plain_http_provider_urls(app_factory) -> None:
    plain = {"corp": {**SECRET, "issuer": "http://login.corp.example"}}
    with pytest.raises(ProviderConfigError, match="IDP_SOCIAL_CORP_ISSUER must be an https URL"):
        app_factory(SOCIAL_PROVIDERS=plain, ENV_NAME="production")
    app_factory(SOCIAL_PROVIDERS={"corp": {**SECRET, "issuer": "https://login.corp.example"}}, ENV_NAME="production")


# --- identities -----------------------------------------------------------------------------------


class StubClient:
    """Answers API paths with canned JSON, as Authlib's client.get would."""

    def __init__(self, answers: dict[str, tuple[int, object]]) -> None:
        self.answers = answers

    def get(self, path: str, token: dict) -> SimpleNamespace:
        status, body = self.answers[path]
        return SimpleNamespace(status_code=status, json=lambda: body)


def github(user: dict, emails: list, status: int = 200) -> StubClient:
    return StubClient({"user": (200, user), "user/emails": (status, emails)})


def test_github_uses_the_numeric_id_and_the_verified_primary_address() -> None:
    client = github(
        {"id": 583231, "login": "octocat", "name": "The Octocat", "email": "public@example.com"},
        [
            {"email": "old@example.com", "primary": False, "verified": True},
            {"email": "octo@example.com", "primary": True, "verified": True},
        ],
    )
    identity = GitHubKind().identity(client, {})
    assert (identity.subject, identity.email, identity.email_verified) == ("583231", "octo@example.com", True)
    assert (identity.username, identity.name) == ("octocat", "The Octocat")


def test_github_public_email_is_not_trusted_when_the_primary_is_unverified() -> None:
    client = github(
        {"id": 1, "login": "mallory", "email": "victim@example.com"},
        [{"email": "victim@example.com", "primary": True, "verified": False}],
    )
    identity = GitHubKind().identity(client, {})
    assert identity.email_verified is False


def test_github_without_the_email_scope_is_an_upstream_failure() -> None:
    with pytest.raises(UpstreamFailed):
        GitHubKind().identity(github({"id": 1, "login": "a"}, {"message": "Not Found"}, status=404), {})


@pytest.mark.parametrize("user", [[], {"login": "no-id"}, "text"])
def test_github_profiles_of_the_wrong_shape_are_refused(user: object) -> None:
    with pytest.raises(UpstreamFailed):
        GitHubKind().identity(github(user, []), {})  # type: ignore[arg-type]


def test_discord_reads_both_username_formats() -> None:
    assert discord_handle({"username": "nelly", "discriminator": "0"}) == "nelly"
    assert discord_handle({"username": "Nelly", "discriminator": "1337"}) == "Nelly#1337"
    me = {
        "id": "80351110224678912",
        "username": "nelly",
        "discriminator": "0",
        "global_name": "Nelly",
        "email": "n@example.com",
        "verified": True,
    }
    identity = DiscordKind().identity(StubClient({"users/@me": (200, me)}), {})
    assert (identity.subject, identity.username, identity.name, identity.email_verified) == (
        "80351110224678912",
        "nelly",
        "Nelly",
        True,
    )


def test_discord_unverified_or_missing_address_is_not_verified() -> None:
    me = {"id": "1", "username": "x", "discriminator": "0", "email": "x@example.com", "verified": "true"}  # a string is not True
    assert DiscordKind().identity(StubClient({"users/@me": (200, me)}), {}).email_verified is False


class OidcStub:
    def __init__(self, userinfo: dict | None = None, endpoint: bool = True) -> None:
        self._userinfo = userinfo
        self._endpoint = endpoint

    def load_server_metadata(self) -> dict:
        return {"userinfo_endpoint": "https://op.example/userinfo"} if self._endpoint else {}

    def userinfo(self, token: dict) -> dict:
        return dict(self._userinfo or {})


def test_oidc_reads_the_id_token_claims() -> None:
    token = {
        "userinfo": {"sub": "abc", "email": "a@example.com", "email_verified": True, "name": "A", "preferred_username": "ay"}
    }
    identity = OidcKind().identity(OidcStub(), token)
    assert (identity.subject, identity.email, identity.email_verified, identity.username) == ("abc", "a@example.com", True, "ay")


def test_oidc_fetches_userinfo_when_the_id_token_has_no_email_and_it_must_be_the_same_subject() -> None:
    token = {"userinfo": {"sub": "abc"}}
    identity = OidcKind().identity(OidcStub({"sub": "abc", "email": "a@example.com", "email_verified": True}), token)
    assert identity.email == "a@example.com" and identity.email_verified
    with pytest.raises(UpstreamFailed):
        OidcKind().identity(OidcStub({"sub": "someone-else", "email": "b@example.com", "email_verified": True}), token)


def test_oidc_without_an_id_token_is_an_upstream_failure() -> None:
    with pytest.raises(UpstreamFailed):
        OidcKind().identity(OidcStub(), {"access_token": "x"})
