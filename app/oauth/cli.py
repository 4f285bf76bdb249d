"""Operator commands: ``flask clients create|list|delete`` and ``flask keys rotate``."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.core.audit import CLI_ORIGIN, record_event
from app.core.client_cache import client_cache
from app.core.clients import APPLICATION_TYPES, ClientSpec, ClientSpecError, create_client
from app.core.durations import parse_duration
from app.core.keys import ensure_keys, rotate_keys, rotate_keys_older_than
from app.core.protocol import AUTH_METHODS, GRANT_TYPES
from app.core.response_encryption import ENCRYPTION_ALGS, ENCRYPTION_ENCS, USERINFO_SIGNING_ALGS
from app.core.revocation import delete_client_and_grants
from app.extensions import db
from app.models import OAuthClient, SigningKey

clients_cli = AppGroup("clients", help="Manage OAuth clients.")
keys_cli = AppGroup("keys", help="Manage JWT signing keys.")


@clients_cli.command("create")
@click.option("--name", required=True)
@click.option("--type", "client_type", type=click.Choice(["confidential", "public"]), default="confidential")
@click.option(
    "--application-type",
    type=click.Choice(APPLICATION_TYPES),
    default="web",
    help="native allows private-use schemes and any loopback port (RFC 8252).",
)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI; repeat for several.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--backchannel-logout-uri", help="Where the app is told, server to server, that a session here ended.")
@click.option("--backchannel-logout-session-required", is_flag=True, help="The app needs sid in its logout tokens.")
@click.option("--grant", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES), help="Repeat for several.")
@click.option("--scope", "scopes", multiple=True, help="Scopes the client may ask for; repeat or space-separate.")
@click.option("--auth-method", default=None, type=click.Choice(AUTH_METHODS))
@click.option("--jwks-file", type=click.File("r"), help="Public JWK Set: private_key_jwt and encryption keys.")
@click.option("--first-party", is_flag=True, help="Skip the consent page for this client.")
@click.option("--require-par", is_flag=True, help="Accept authorization requests only pushed to /oauth/par (RFC 9126).")
@click.option("--require-dpop", is_flag=True, help="Refuse token requests without a DPoP proof (RFC 9449).")
@click.option("--id-token-encryption", type=click.Choice(ENCRYPTION_ALGS), help="Encrypt ID tokens (key: --jwks-file).")
@click.option("--id-token-encryption-enc", type=click.Choice(ENCRYPTION_ENCS), help="Default A128CBC-HS256.")
@click.option("--userinfo-signed", type=click.Choice(USERINFO_SIGNING_ALGS), help="Answer UserInfo as a signed JWT.")
@click.option("--userinfo-encryption", type=click.Choice(ENCRYPTION_ALGS), help="Encrypt UserInfo (key: --jwks-file).")
@click.option("--userinfo-encryption-enc", type=click.Choice(ENCRYPTION_ENCS), help="Default A128CBC-HS256.")
def create_client_command(
    name,
    client_type,
    application_type,
    redirect_uris,
    post_logout_redirect_uris,
    backchannel_logout_uri,
    backchannel_logout_session_required,
    grant_types,
    scopes,
    auth_method,
    jwks_file,
    first_party,
    require_par,
    require_dpop,
    **encryption,
):
    """Register a client; prints one JSON object with client_id and (only now) client_secret."""
    spec = ClientSpec(
        name=name,
        is_confidential=client_type == "confidential",
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris),
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        grant_types=list(grant_types) or ["authorization_code", "refresh_token"],
        scope=" ".join(" ".join(scopes).split()) or "openid profile email",
        token_endpoint_auth_method=auth_method,
        is_first_party=first_party,
        is_native=application_type == "native",
        jwks=json.load(jwks_file) if jwks_file else None,
        encryption=_encryption_metadata(**encryption),
    )
    try:
        client, secret = create_client(spec)
    except ClientSpecError as error:
        click.echo(f"Refused: {error}", err=True)
        sys.exit(2)
    client.require_pushed_authorization_requests, client.require_dpop = require_par, require_dpop
    record_event("admin.client_created", origin=CLI_ORIGIN, client_id=client.client_id)
    db.session.commit()
    output = {"client_id": client.client_id, "client_name": client.name}
    if secret:
        output["client_secret"] = secret
    click.echo(json.dumps(output))


def _encryption_metadata(
    id_token_encryption, id_token_encryption_enc, userinfo_signed, userinfo_encryption, userinfo_encryption_enc
) -> dict[str, str | None]:
    """The options under their OIDC Registration 2 metadata names; create_client checks them with the keys."""
    return {
        "id_token_encrypted_response_alg": id_token_encryption,
        "id_token_encrypted_response_enc": id_token_encryption_enc,
        "userinfo_signed_response_alg": userinfo_signed,
        "userinfo_encrypted_response_alg": userinfo_encryption,
        "userinfo_encrypted_response_enc": userinfo_encryption_enc,
    }


@clients_cli.command("list")
def list_clients():
    """One JSON object per line (no secrets: only their digests exist)."""
    for client in db.session.scalars(select(OAuthClient).order_by(OAuthClient.id)):
        click.echo(
            json.dumps(
                {
                    "client_id": client.client_id,
                    "name": client.name,
                    "type": "confidential" if client.is_confidential else "public",
                    "application_type": client.application_type,
                    "grant_types": client.grant_types,
                    "redirect_uris": client.redirect_uris,
                    "backchannel_logout_uri": client.backchannel_logout_uri,
                    "backchannel_logout_session_required": client.backchannel_logout_session_required,
                    "scope": client.scope,
                    "first_party": client.is_first_party,
                    "disabled": client.is_disabled,
                }
            )
        )


@clients_cli.command("delete")
@click.argument("client_id")
def delete_client_command(client_id: str):
    """Delete a client; its codes, tokens and consents go with it."""
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        click.echo(f"No client {client_id}.", err=True)
        sys.exit(1)
    delete_client_and_grants(client)
    record_event("admin.client_deleted", origin=CLI_ORIGIN, client_id=client_id)
    db.session.commit()
    client_cache().invalidate(client_id)
    click.echo(f"Deleted {client_id}.")


class Duration(click.ParamType):
    """90d, 12h, 30m or 45s; anything else is a usage error (exit 2) that says what is expected."""

    name = "duration"

    def convert(self, value, param, ctx) -> timedelta:
        try:
            return value if isinstance(value, timedelta) else parse_duration(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


@keys_cli.command("rotate")
@click.option("--if-older-than", "max_age", type=Duration(), help="Only keys older than this, e.g. 90d: for a schedule.")
def rotate(max_age: timedelta | None):
    """Make new active RS256 and ES256 keys; the old ones stay published until their tokens expire."""
    if max_age is not None:
        rotate_on_schedule(max_age)
        return
    created = rotate_keys()
    db.session.commit()
    for key in created:
        click.echo(f"new {key.algorithm} key {key.kid}")


def rotate_on_schedule(max_age: timedelta) -> None:
    """Rotate only the algorithms whose active key is older than max_age; say for each what happened."""
    rotations = rotate_keys_older_than(max_age)
    rotated = [r for r in rotations if r.created is not None]
    if rotated:  # unattended, so the trail says it happened
        retired = [r.previous.kid for r in rotated if r.previous is not None]
        record_event("admin.keys_rotated", origin=CLI_ORIGIN, new_kids=[r.created.kid for r in rotated], retired_kids=retired)
    db.session.commit()
    for rotation in rotations:
        click.echo(rotation.describe())


@keys_cli.command("ensure")
def ensure():
    """Create missing signing keys now, so cold workers never race to create them."""
    created = ensure_keys()
    db.session.commit()
    click.echo(", ".join(f"new {key.algorithm} key {key.kid}" for key in created) or "signing keys present")


@keys_cli.command("list")
def list_keys():
    for key in db.session.scalars(select(SigningKey).order_by(SigningKey.created_at)):
        state = "active" if key.retired_at is None else f"retired {key.retired_at:%Y-%m-%d %H:%M}"
        click.echo(f"{key.kid} {key.algorithm} created {key.created_at:%Y-%m-%d %H:%M} {state}")
