"""The live server's social sign-in providers: the second IdP as "Upstream IdP" and as Google, the fake GitHub and Discord.

The live server's port is chosen first, so that its callback URLs can be registered upstream before it starts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.upstreams import FakeSocialServer, OAuthApp, UpstreamIdP

UPSTREAM_NAME = "Upstream IdP"


@dataclass(frozen=True)
class SocialUpstreams:
    upstream: UpstreamIdP
    fake: FakeSocialServer
    github: OAuthApp
    discord: OAuthApp
    env: dict[str, str]


def register_upstreams(live_url: str, upstream: UpstreamIdP, fake: FakeSocialServer) -> SocialUpstreams:
    """Register the live server as a client of each upstream; the IDP_SOCIAL_* settings that point it there."""
    callback = f"{live_url}/social/{{}}/callback"
    callbacks = [callback.format("upstream"), callback.format("google")]
    client_id, client_secret = upstream.register_client(callbacks, name="E2E downstream")
    suffix = secrets.token_hex(3)
    github = fake.add_app("github", f"e2e-gh-{suffix}", f"e2e-gh-secret-{suffix}", callback.format("github"), name="E2E IdP")
    discord = fake.add_app("discord", f"e2e-dc-{suffix}", f"e2e-dc-secret-{suffix}", callback.format("discord"), name="E2E IdP")
    env = {
        "IDP_SOCIAL_UPSTREAM_CLIENT_ID": client_id,
        "IDP_SOCIAL_UPSTREAM_CLIENT_SECRET": client_secret,
        "IDP_SOCIAL_UPSTREAM_ISSUER": upstream.issuer,
        "IDP_SOCIAL_UPSTREAM_DISPLAY_NAME": UPSTREAM_NAME,
        # Google's built-in profile, its discovery document pointed at the same second IdP.
        "IDP_SOCIAL_GOOGLE_CLIENT_ID": client_id,
        "IDP_SOCIAL_GOOGLE_CLIENT_SECRET": client_secret,
        "IDP_SOCIAL_GOOGLE_DISCOVERY_URL": upstream.discovery_url,
        "IDP_SOCIAL_GITHUB_CLIENT_ID": github.client_id,
        "IDP_SOCIAL_GITHUB_CLIENT_SECRET": github.client_secret,
        "IDP_SOCIAL_GITHUB_WEB_URL": fake.github_url,
        "IDP_SOCIAL_GITHUB_API_URL": fake.github_api_url,
        "IDP_SOCIAL_DISCORD_CLIENT_ID": discord.client_id,
        "IDP_SOCIAL_DISCORD_CLIENT_SECRET": discord.client_secret,
        "IDP_SOCIAL_DISCORD_BASE_URL": fake.discord_url,
    }
    return SocialUpstreams(upstream, fake, github, discord, env)
