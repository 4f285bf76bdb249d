"""Clients that always use DPoP (RFC 9449 5.2): the operator's flag and the registration metadata."""

from __future__ import annotations

import pytest

from tests.integration.oauth.test_clients_cli import client_row, create
from tests.integration.oauth.test_dynamic_registration import METADATA, configuration, register


def test_clients_create_require_dpop_sets_the_flag(app):
    assert (
        client_row(
            create(app, "--name", "Strict", "--redirect-uri", "https://rp.example/cb", "--require-dpop")["client_id"]
        ).require_dpop
        is True
    )
    assert (
        client_row(create(app, "--name", "Lenient", "--redirect-uri", "https://rp.example/cb")["client_id"]).require_dpop is False
    )


def test_registration_metadata_dpop_bound_access_tokens(app, test_client):
    app.config["OPEN_CLIENT_REGISTRATION"] = True

    body = register(test_client, {**METADATA, "dpop_bound_access_tokens": True}).get_json()

    assert body["dpop_bound_access_tokens"] is True
    assert client_row(body["client_id"]).require_dpop is True
    update = {k: v for k, v in body.items() if k not in ("registration_access_token", "registration_client_uri")}
    update.pop("client_secret", None)
    update.pop("client_secret_expires_at", None)
    update.pop("client_id_issued_at", None)
    changed = configuration(
        test_client, "PUT", body["client_id"], body["registration_access_token"], {**update, "dpop_bound_access_tokens": False}
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert client_row(body["client_id"]).require_dpop is False


@pytest.mark.parametrize("value", ["true", 1, None])
def test_registration_refuses_a_non_boolean_dpop_bound_access_tokens(app, test_client, value):
    app.config["OPEN_CLIENT_REGISTRATION"] = True

    response = register(test_client, {**METADATA, "dpop_bound_access_tokens": value})

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_client_metadata"
