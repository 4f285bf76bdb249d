"""Client credentials (RFC 6749 4.4, RFC 9068): confidential clients only, JWT access tokens, no row per token."""

from __future__ import annotations

import pytest
from joserfc import jws
from sqlalchemy import func, select

from app.core.client_cache import client_cache
from app.extensions import db
from app.models import ClientCredentialsUsage
from app.oauth.usage import usage_counter
from tests.conftest import statements_recorded
from tests.integration.oauth.conftest import table_counts, verify_jwt

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def machine(create_oauth_client):
    return create_oauth_client(
        name="Billing job", grant_types=["client_credentials"], redirect_uris=[], scope="invoices:read invoices:write"
    )


def writes_recorded():
    """Collect every INSERT, UPDATE and DELETE the app sends to the database."""
    return statements_recorded("INSERT", "UPDATE", "DELETE")


def assert_client_error(response, error: str, status: int):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert "access_token" not in response.get_json()


def test_a_confidential_client_gets_an_rfc9068_access_token(app, rp, machine):
    client, secret = machine

    response = rp.post("/oauth/token", client, secret, GRANT)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 600
    assert body["scope"] == "invoices:read invoices:write"
    assert "refresh_token" not in body and "id_token" not in body
    header = jws.extract_compact(body["access_token"].encode()).headers()
    claims = verify_jwt(rp.http, body["access_token"]).claims
    assert header["typ"] == "at+jwt" and header["kid"]
    assert claims["sub"] == client.client_id and claims["client_id"] == client.client_id
    assert claims["aud"] == app.config["ISSUER"] and claims["iss"] == app.config["ISSUER"]
    assert claims["jti"] and 0 < claims["exp"] - claims["iat"] <= 600
    assert "auth_time" not in claims


def test_the_audience_follows_configuration(app_factory, create_oauth_client):
    app = app_factory(ACCESS_TOKEN_AUDIENCE="https://api.example")
    with app.app_context():
        from tests.integration.oauth.conftest import RelyingParty

        client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api")
        party = RelyingParty(app, app.test_client(), None)
        token = party.post("/oauth/token", client, secret, GRANT).get_json()["access_token"]

        assert verify_jwt(party.http, token).claims["aud"] == "https://api.example"


def test_a_requested_subset_of_scopes_is_granted(rp, machine):
    client, secret = machine

    body = rp.post("/oauth/token", client, secret, {**GRANT, "scope": "invoices:read"}).get_json()

    assert body["scope"] == "invoices:read"
    assert verify_jwt(rp.http, body["access_token"]).claims["scope"] == "invoices:read"


def test_scopes_beyond_the_clients_are_dropped(rp, machine):
    client, secret = machine

    body = rp.post("/oauth/token", client, secret, {**GRANT, "scope": "invoices:read admin openid"}).get_json()

    assert body["scope"] == "invoices:read"


def test_only_scopes_the_client_may_not_have_is_invalid_scope(rp, machine, subtests):
    client, secret = machine
    for scope in ["admin", "openid profile", "invoices:delete"]:
        with subtests.test(scope=scope):
            assert_client_error(rp.post("/oauth/token", client, secret, {**GRANT, "scope": scope}), "invalid_scope", 400)


def test_machine_tokens_write_nothing_to_the_database_per_token(rp, machine):
    client, secret = machine
    rp.post("/oauth/token", client, secret, GRANT)  # warm caches (keys, client) outside the measurement
    before = table_counts()

    with writes_recorded() as writes:
        for _ in range(5):
            assert rp.post("/oauth/token", client, secret, GRANT).status_code == 200

    after = table_counts()
    usage = "oauth_client_credentials_usage"
    # The per-minute counter may flush once if the minute turned during the loop; nothing else may change.
    assert {k: v for k, v in after.items() if k != usage} == {k: v for k, v in before.items() if k != usage}
    assert after[usage] - before[usage] <= 1
    assert all("client_credentials_usage" in statement for statement in writes), writes
    with writes_recorded() as flushed:
        usage_counter().flush()
    assert any("client_credentials_usage" in statement for statement in flushed)  # the recorder does see writes


def test_machine_tokens_are_counted_per_client_and_minute_when_flushed(rp, machine):
    client, secret = machine
    for _ in range(3):
        rp.post("/oauth/token", client, secret, GRANT)

    usage_counter().flush()

    assert db.session.scalar(select(func.sum(ClientCredentialsUsage.count))) == 3
    assert {row.client_id for row in db.session.scalars(select(ClientCredentialsUsage))} == {client.id}


def test_a_wrong_secret_with_basic_is_401_invalid_client_with_www_authenticate(rp, machine):
    client, _ = machine

    response = rp.post("/oauth/token", client, "cs_wrong", GRANT)

    assert_client_error(response, "invalid_client", 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_an_unknown_client_with_basic_is_401_invalid_client(rp, machine):
    client, secret = machine

    response = rp.http.post("/oauth/token", data=GRANT, auth=("no-such-client", secret))

    assert_client_error(response, "invalid_client", 401)
    assert "WWW-Authenticate" in response.headers


def test_a_wrong_secret_with_client_secret_post_is_invalid_client(rp, create_oauth_client, subtests):
    client, _ = create_oauth_client(
        grant_types=["client_credentials"], redirect_uris=[], scope="api", token_endpoint_auth_method="client_secret_post"
    )
    for secret in ["", "x" * 300, "cs_wrong"]:
        with subtests.test(secret=secret[:10]):
            response = rp.post("/oauth/token", client, secret, GRANT, method="client_secret_post")
            assert response.status_code in (400, 401)
            assert response.get_json()["error"] == "invalid_client"


def test_client_secret_post_works_for_a_client_registered_for_it(rp, create_oauth_client):
    client, secret = create_oauth_client(
        grant_types=["client_credentials"], redirect_uris=[], scope="api", token_endpoint_auth_method="client_secret_post"
    )

    assert rp.post("/oauth/token", client, secret, GRANT, method="client_secret_post").status_code == 200
    # The registered method is the only one accepted.
    assert_client_error(rp.post("/oauth/token", client, secret, GRANT, method="client_secret_basic"), "invalid_client", 401)


def test_a_basic_client_may_not_switch_to_client_secret_post(rp, machine):
    client, secret = machine

    response = rp.post("/oauth/token", client, secret, GRANT, method="client_secret_post")

    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_a_public_client_cannot_use_client_credentials(rp, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False)
    client.grant_types = [*client.grant_types, "client_credentials"]  # registration refuses this; force it
    db.session.commit()
    client_cache().invalidate(client.client_id)

    response = rp.post("/oauth/token", client, None, GRANT)

    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in {"unauthorized_client", "invalid_client"}


def test_a_public_client_pretending_to_be_confidential_fails(rp, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False)
    for method in ("client_secret_basic", "client_secret_post"):
        response = rp.post("/oauth/token", client, "cs_made_up_secret", GRANT, method=method)
        assert response.status_code in (400, 401)
        assert response.get_json()["error"] == "invalid_client"


def test_registration_refuses_client_credentials_for_a_public_client(app):
    from app.core.clients import ClientSpec, ClientSpecError, create_client

    with pytest.raises(ClientSpecError):
        create_client(
            ClientSpec(name="x", is_confidential=False, redirect_uris=[], grant_types=["client_credentials"], scope="api")
        )


def test_a_disabled_client_is_invalid_client(rp, create_oauth_client):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="api", is_disabled=True)

    assert_client_error(rp.post("/oauth/token", client, secret, GRANT), "invalid_client", 401)


def test_a_client_without_the_grant_gets_unauthorized_client(rp, create_oauth_client):
    client, secret = create_oauth_client()  # authorization_code + refresh_token only

    assert_client_error(rp.post("/oauth/token", client, secret, GRANT), "unauthorized_client", 400)


def test_a_machine_token_does_not_open_userinfo(rp, machine):
    client, secret = machine
    token = rp.post("/oauth/token", client, secret, GRANT).get_json()["access_token"]

    assert rp.userinfo(token).status_code == 401


def test_a_machine_token_introspects_as_active_for_its_client(rp, machine, resource_server):
    client, secret = machine
    token = rp.post("/oauth/token", client, secret, GRANT).get_json()["access_token"]

    body = rp.introspect(*resource_server, token).get_json()

    assert body["active"] is True and body["sub"] == client.client_id and body["client_id"] == client.client_id
