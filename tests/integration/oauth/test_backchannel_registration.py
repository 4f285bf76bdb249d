"""OIDC Back-Channel Logout 2.2 "Indicating RP Support": backchannel_logout_uri and backchannel_logout_session_required
are registered, stored, reported and changed by dynamic registration (RFC 7591, RFC 7592), Client ID Metadata Documents
and ``flask clients create``; a URI this server could not or must not POST to is refused and nothing is stored."""

from __future__ import annotations

import json

import pytest

from app.core import client_metadata
from app.core.client_metadata_fetch import MetadataError
from app.models import OAuthClient
from tests.integration.oauth.conftest import count_rows
from tests.integration.oauth.registration_helpers import config_request, register, row_of

BACKCHANNEL_URI = "https://rp.example/backchannel-logout"
WEB = {"client_name": "Logout RP", "redirect_uris": ["https://rp.example/cb"]}


@pytest.fixture
def http(app, test_client):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    return test_client


def stored(client_id: str) -> tuple[str | None, bool]:
    row = row_of(client_id)
    return row.backchannel_logout_uri, row.backchannel_logout_session_required


def assert_refused(response, name: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_client_metadata"
    assert name in body["error_description"]


# --- RFC 7591 registration ---


def test_registration_stores_and_returns_both_fields(http):
    response = register(http, {**WEB, "backchannel_logout_uri": BACKCHANNEL_URI, "backchannel_logout_session_required": True})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["backchannel_logout_uri"] == BACKCHANNEL_URI
    assert body["backchannel_logout_session_required"] is True
    assert stored(body["client_id"]) == (BACKCHANNEL_URI, True)


def test_a_client_without_the_fields_has_none_and_is_told_false(http):
    body = register(http, WEB).get_json()

    assert "backchannel_logout_uri" not in body
    assert body["backchannel_logout_session_required"] is False
    assert stored(body["client_id"]) == (None, False)


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8080/logout", "http://[::1]/logout", "http://localhost/bc", "https://rp.example:8443/bc?x=1"]
)
def test_https_and_loopback_http_are_accepted(http, uri):
    response = register(http, {**WEB, "backchannel_logout_uri": uri})

    assert response.status_code == 201, response.get_json()
    assert stored(response.get_json()["client_id"])[0] == uri


def test_session_required_without_a_uri_is_stored(http):
    """Harmless without a URI, and kept: the app may add the URI in a later update."""
    body = register(http, {**WEB, "backchannel_logout_session_required": True}).get_json()

    assert stored(body["client_id"]) == (None, True)
    assert body["backchannel_logout_session_required"] is True


@pytest.mark.parametrize(
    "field, value",
    [
        ("backchannel_logout_uri", "https://rp.example/logout#fragment"),  # 2.2: MUST NOT include a fragment
        ("backchannel_logout_uri", "https://rp.example/logout#"),
        ("backchannel_logout_uri", "http://rp.example/logout"),  # http off loopback
        ("backchannel_logout_uri", "http://10.0.0.5/logout"),
        ("backchannel_logout_uri", "javascript:alert(1)"),
        ("backchannel_logout_uri", "com.example.app:/logout"),  # private-use schemes are for redirects only
        ("backchannel_logout_uri", "https://user:pass@rp.example/logout"),
        ("backchannel_logout_uri", "https://user@rp.example/logout"),
        ("backchannel_logout_uri", "https://rp.example/" + "a" * 482),  # 501 characters
        ("backchannel_logout_uri", "https://rp.example/log out"),
        ("backchannel_logout_uri", "https://rp.example/\x7flogout"),
        ("backchannel_logout_uri", "https://rp.example:99999/logout"),
        ("backchannel_logout_uri", "/logout"),
        ("backchannel_logout_uri", "https:///logout"),
        ("backchannel_logout_uri", ""),
        ("backchannel_logout_uri", 42),
        ("backchannel_logout_uri", ["https://rp.example/logout"]),
        ("backchannel_logout_session_required", "yes"),
        ("backchannel_logout_session_required", 1),
        ("backchannel_logout_session_required", None),
    ],
)
def test_a_bad_value_is_refused_and_nothing_stored(http, field, value):
    metadata = {**WEB, "backchannel_logout_uri": BACKCHANNEL_URI, field: value}

    response = register(http, metadata)

    assert_refused(response, field)
    assert count_rows(OAuthClient) == 0


def test_a_500_character_uri_is_the_longest_accepted(http):
    uri = "https://rp.example/" + "a" * 482
    assert len(uri) == 501

    assert register(http, {**WEB, "backchannel_logout_uri": uri[:-1]}).status_code == 201


# --- RFC 7592 read and update ---


def _update(registered: dict, **changes) -> dict:
    return {"client_id": registered["client_id"], "client_name": registered["client_name"], **WEB, **changes}


def test_read_returns_the_stored_values(http):
    registered = register(http, {**WEB, "backchannel_logout_uri": BACKCHANNEL_URI, "backchannel_logout_session_required": True})

    read = config_request(http, registered.get_json()).get_json()

    assert (read["backchannel_logout_uri"], read["backchannel_logout_session_required"]) == (BACKCHANNEL_URI, True)


def test_update_changes_both_fields(http):
    registered = register(http, WEB).get_json()
    change = _update(registered, backchannel_logout_uri=BACKCHANNEL_URI, backchannel_logout_session_required=True)

    response = config_request(http, registered, "PUT", change)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["backchannel_logout_uri"] == BACKCHANNEL_URI
    assert stored(registered["client_id"]) == (BACKCHANNEL_URI, True)
    read = config_request(http, registered).get_json()
    assert (read["backchannel_logout_uri"], read["backchannel_logout_session_required"]) == (BACKCHANNEL_URI, True)


def test_an_update_that_omits_them_clears_both(http):
    """RFC 7592 2.2 replaces the metadata: omitted means no URI and false."""
    registered = register(
        http, {**WEB, "backchannel_logout_uri": BACKCHANNEL_URI, "backchannel_logout_session_required": True}
    ).get_json()

    response = config_request(http, registered, "PUT", _update(registered))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "backchannel_logout_uri" not in body and body["backchannel_logout_session_required"] is False
    assert stored(registered["client_id"]) == (None, False)


@pytest.mark.parametrize(
    "field, value",
    [("backchannel_logout_uri", "https://rp.example/other#x"), ("backchannel_logout_session_required", "yes")],
)
def test_a_refused_update_changes_nothing(http, field, value):
    registered = register(
        http, {**WEB, "backchannel_logout_uri": BACKCHANNEL_URI, "backchannel_logout_session_required": True}
    ).get_json()
    change = _update(registered, client_name="Renamed", **{"backchannel_logout_uri": "https://rp.example/new", field: value})

    assert_refused(config_request(http, registered, "PUT", change), field)
    assert stored(registered["client_id"]) == (BACKCHANNEL_URI, True)
    assert row_of(registered["client_id"]).name == "Logout RP"


# --- Client ID Metadata Documents: the same rules through the same spec ---

DOCUMENT_URL = "https://rp.example/client.json"


def _document(**fields) -> dict:
    return {"client_id": DOCUMENT_URL, "redirect_uris": ["https://rp.example/cb"], **fields}


def test_a_metadata_document_carries_both_fields(app):
    document = _document(backchannel_logout_uri=BACKCHANNEL_URI, backchannel_logout_session_required=True)

    spec = client_metadata.client_spec(document, DOCUMENT_URL, "rp.example", app.config)

    assert (spec.backchannel_logout_uri, spec.backchannel_logout_session_required) == (BACKCHANNEL_URI, True)


@pytest.mark.parametrize(
    "field, value",
    [
        ("backchannel_logout_uri", "https://rp.example/logout#top"),
        ("backchannel_logout_uri", "http://rp.example/logout"),
        ("backchannel_logout_uri", 7),
        ("backchannel_logout_session_required", "yes"),
    ],
)
def test_a_metadata_document_with_a_bad_value_is_refused(app, field, value):
    with pytest.raises(MetadataError, match=field):
        client_metadata.client_spec(_document(**{field: value}), DOCUMENT_URL, "rp.example", app.config)


# --- flask clients create / list ---


def test_the_cli_creates_a_client_with_both_options_and_lists_them(app):
    runner = app.test_cli_runner()
    base = ["clients", "create", "--redirect-uri", "https://portal.example/cb"]

    created = runner.invoke(
        args=[*base, "--name", "Portal", "--backchannel-logout-uri", BACKCHANNEL_URI, "--backchannel-logout-session-required"]
    )
    plain = runner.invoke(args=[*base, "--name", "Plain"])

    assert created.exit_code == 0, created.output
    assert stored(json.loads(created.output)["client_id"]) == (BACKCHANNEL_URI, True)
    assert stored(json.loads(plain.output)["client_id"]) == (None, False)
    listed = {c["name"]: c for c in map(json.loads, runner.invoke(args=["clients", "list"]).output.splitlines())}
    shown = {name: (c["backchannel_logout_uri"], c["backchannel_logout_session_required"]) for name, c in listed.items()}
    assert shown == {"Portal": (BACKCHANNEL_URI, True), "Plain": (None, False)}


def test_the_cli_refuses_a_bad_uri_and_stores_nothing(app):
    runner = app.test_cli_runner()
    args = ["clients", "create", "--name", "Portal", "--redirect-uri", "https://portal.example/cb"]

    refused = runner.invoke(args=[*args, "--backchannel-logout-uri", "http://portal.example/logout#x"])

    assert refused.exit_code == 2
    assert "backchannel_logout_uri" in refused.output
    assert count_rows(OAuthClient) == 0
