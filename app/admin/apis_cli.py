"""Operator commands for APIs (resource servers): ``flask apis list|create|delete|allow|disallow``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from app.core import apis
from app.core.audit import CLI_ORIGIN
from app.core.client_cache import find_client
from app.core.keys import ALGORITHMS
from app.extensions import db
from app.models import ApiResource, OAuthClient

apis_cli = AppGroup("apis", help="Manage APIs (resource servers) and which clients may get tokens for them.")


def _fail(text: str) -> None:
    db.session.rollback()
    click.echo(text, err=True)
    sys.exit(1)


def _api(identifier: str) -> ApiResource:
    api = apis.find_api(identifier)
    if api is None:
        _fail(f"No API has the identifier {identifier}.")
    return api


def _client(client_id: str) -> OAuthClient:
    client = find_client(client_id)
    if client is None:
        _fail(f"No client has the client_id {client_id}.")
    return client


def _scopes(values: tuple[str, ...]) -> dict[str, str]:
    scopes: dict[str, str] = {}
    for value in values:
        name, _, description = value.partition("=")
        if not description:
            _fail(f"Give each scope as name=description (got {value!r}).")
        scopes[name.strip()] = description.strip()
    return scopes


@apis_cli.command("list")
def list_apis() -> None:
    """One JSON object per API: identifier, name, scopes and the clients allowed."""
    for api in apis.list_apis():
        click.echo(json.dumps(_summary(api)))


@apis_cli.command("create")
@click.argument("identifier")
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, help="name=what the consent page says; repeat for several.")
@click.option("--token-seconds", type=int, default=None, help="Access-token lifetime (default IDP_ACCESS_TOKEN_SECONDS).")
@click.option("--alg", type=click.Choice(ALGORITHMS), default=None, help="Access-token algorithm (default IDP_ACCESS_TOKEN_ALG).")
@click.option("--no-introspection", is_flag=True, help="Its tokens are checked locally only; introspection says inactive.")
def create_api(identifier, name, scopes, token_seconds, alg, no_introspection) -> None:
    """Register an API; IDENTIFIER (an absolute URI) becomes the audience of its tokens."""
    spec = apis.ApiSpec(identifier, name, _scopes(scopes), token_seconds, alg, not no_introspection)
    try:
        api = apis.create_api(spec, actor=None, origin=CLI_ORIGIN)
    except apis.ApiError as error:
        _fail(str(error))
    db.session.commit()
    click.echo(json.dumps(_summary(api)))


@apis_cli.command("delete")
@click.argument("identifier")
def delete_api(identifier) -> None:
    """Remove an API and its scopes; its tokens already issued run out on their own."""
    apis.delete_api(_api(identifier), actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    click.echo(f"Deleted {identifier}.")


@apis_cli.command("allow")
@click.argument("identifier")
@click.option("--client", "client_id", required=True)
def allow_client(identifier, client_id) -> None:
    """Let a client ask for tokens for this API (add the API's scopes to the client's scopes too)."""
    _change_access(identifier, client_id, allow=True)


@apis_cli.command("disallow")
@click.argument("identifier")
@click.option("--client", "client_id", required=True)
def disallow_client(identifier, client_id) -> None:
    """Stop a client asking for tokens for this API."""
    _change_access(identifier, client_id, allow=False)


def _change_access(identifier: str, client_id: str, *, allow: bool) -> None:
    api, client = _api(identifier), _client(client_id)
    change = apis.allow_client if allow else apis.disallow_client
    change(api, client, actor=None, origin=CLI_ORIGIN)  # nothing to change: nothing recorded
    db.session.commit()
    click.echo(json.dumps(_summary(api)))


def _summary(api: ApiResource) -> dict[str, object]:
    return {
        "identifier": api.identifier,
        "name": api.name,
        "scopes": {scope.name: scope.description for scope in api.scopes},
        "access_token_seconds": api.access_token_seconds,
        "signing_alg": api.signing_alg,
        "allow_introspection": api.allow_introspection,
        "clients": [client.client_id for client in api.clients],
    }
