"""Discovery (OIDC Discovery 1.0, RFC 8414): the configured issuer, only what is implemented, live URLs.

OpenID conformance module covered here: oidcc-discovery-endpoint-verification (oidcc-config plan).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
ISSUER = "https://id.example.test"


@pytest.fixture
def https_app(app_factory):
    app = app_factory(ISSUER=ISSUER)
    with app.app_context():
        yield app


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_both_well_known_urls_serve_the_same_public_cacheable_json(test_client, path):
    response = test_client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"].startswith("public")
    assert response.get_json() == test_client.get(WELL_KNOWN[0]).get_json()


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_issuer_is_the_configured_one_even_with_a_spoofed_host_header(https_app, path):
    http = https_app.test_client()

    for host in ("evil.example", "id.example.test:8443", "localhost"):
        metadata = http.get(path, headers={"Host": host, "X-Forwarded-Host": "evil.example"}).get_json()
        assert metadata["issuer"] == ISSUER
        for key, value in metadata.items():
            if key.endswith("_endpoint") or key == "jwks_uri":
                assert value.startswith(ISSUER + "/"), (key, value)


def test_only_implemented_features_are_advertised(test_client, app):
    metadata = test_client.get(WELL_KNOWN[0]).get_json()

    assert metadata["issuer"] == app.config["ISSUER"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["response_modes_supported"] == ["query", "form_post"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert metadata["subject_types_supported"] == ["public"]
    assert metadata["userinfo_signing_alg_values_supported"] == ["RS256"]
    for kind in ("id_token", "userinfo"):  # OIDC Core 10.2, to keys from the client's inline jwks only
        assert metadata[f"{kind}_encryption_alg_values_supported"] == ["RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A256KW"]
        assert metadata[f"{kind}_encryption_enc_values_supported"] == ["A128CBC-HS256", "A256GCM"]
        assert "RSA1_5" not in metadata[f"{kind}_encryption_alg_values_supported"]
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert not {"implicit", "password"} & set(metadata["grant_types_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(metadata["grant_types_supported"])
    assert "openid" in metadata["scopes_supported"]
    for claim in ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "name"):
        assert claim in metadata["claims_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]


def test_every_advertised_endpoint_resolves_to_a_route(test_client, app):
    metadata = test_client.get(WELL_KNOWN[0]).get_json()
    urls = {key: value for key, value in metadata.items() if key.endswith("_endpoint") or key.endswith("_uri")}
    urls = {key: value for key, value in urls.items() if isinstance(value, str)}
    assert {"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"} <= set(urls)

    adapter = app.url_map.bind("localhost")
    for key, url in urls.items():
        assert url.startswith(metadata["issuer"] + "/"), key
        path = urlsplit(url).path
        try:
            adapter.match(path, method="GET")
        except MethodNotAllowed:
            pass  # a POST-only endpoint (token, revocation, ...): the route exists
        except NotFound:
            pytest.fail(f"{key} {url} has no route")


def test_jwks_uri_from_discovery_serves_keys(test_client):
    jwks_uri = test_client.get(WELL_KNOWN[0]).get_json()["jwks_uri"]

    response = test_client.get(urlsplit(jwks_uri).path)

    assert response.status_code == 200
    assert response.get_json()["keys"]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_discovery_is_read_only(test_client, method):
    response = getattr(test_client, method)(WELL_KNOWN[0])

    assert response.status_code == 405


@pytest.mark.parametrize("path", [*WELL_KNOWN, "/oauth/jwks"])
def test_public_metadata_is_answered_from_memory_with_every_security_header(test_client, path):
    built = test_client.get(path)

    again = test_client.get(path)

    assert again.data == built.data
    assert "X-Request-ID" in built.headers and "X-Request-ID" not in again.headers  # no Flask hook ran
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "Cache-Control", "ETag"):
        assert again.headers[header] == built.headers[header]
    assert "Vary" not in again.headers and "Set-Cookie" not in again.headers


@pytest.mark.parametrize("path", [*WELL_KNOWN, "/oauth/jwks"])
def test_public_metadata_answers_a_matching_etag_with_304(test_client, path):
    etag = test_client.get(path).headers["ETag"]

    response = test_client.get(path, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""
