"""``flask clients create|list|delete``: the secret shown once, safe redirect URIs only, delete revokes tokens.

The registration rule behind oidcc-redirect-uri-regfrag (no fragment) is checked here for the CLI.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, OAuthClient, RefreshToken
from tests.conftest import audit_types
from tests.integration.oauth.conftest import count_rows


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["clients", *args])


def create(app, *args: str) -> dict:
    result = run(app, "create", *args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, "exactly one JSON object"
    return json.loads(lines[0])


def client_row(client_id: str) -> OAuthClient | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def test_create_prints_client_id_and_secret_once_and_stores_only_a_digest(app, rp):
    output = create(app, "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--scope", "openid email")

    assert set(output) == {"client_id", "client_name", "client_secret"}
    row = client_row(output["client_id"])
    assert row.name == "Shop" and row.is_confidential and row.redirect_uris == ["https://shop.example/cb"]
    assert row.scope == "openid email" and row.grant_types == ["authorization_code", "refresh_token"]
    assert output["client_secret"] not in json.dumps({c.key: str(getattr(row, c.key)) for c in OAuthClient.__table__.columns})
    assert row.check_client_secret(output["client_secret"])
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "admin.client_created")).one()
    assert event.details == {"client_id": output["client_id"]}


def test_the_printed_secret_authenticates_at_the_token_endpoint(app, rp):
    output = create(app, "--name", "Job", "--grant", "client_credentials", "--scope", "reports")

    response = rp.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(output["client_id"], output["client_secret"])
    )

    assert response.status_code == 200 and response.get_json()["scope"] == "reports"


def test_a_public_client_gets_no_secret(app):
    output = create(app, "--name", "CLI tool", "--type", "public", "--redirect-uri", "http://127.0.0.1/cb")

    assert "client_secret" not in output
    row = client_row(output["client_id"])
    assert not row.is_confidential and row.client_secret_digest is None and row.token_endpoint_auth_method == "none"


def test_first_party_flag_is_stored(app):
    output = create(app, "--name", "Portal", "--redirect-uri", "https://portal.example/cb", "--first-party")

    assert client_row(output["client_id"]).is_first_party


def test_list_shows_every_client_without_secrets(app):
    shop = create(app, "--name", "Shop", "--redirect-uri", "https://shop.example/cb")
    tool = create(app, "--name", "Tool", "--type", "public", "--redirect-uri", "http://127.0.0.1/cb")

    result = run(app, "list")

    assert result.exit_code == 0
    listed = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [c["client_id"] for c in listed] == [shop["client_id"], tool["client_id"]]
    assert [c["type"] for c in listed] == ["confidential", "public"]
    assert shop["client_secret"] not in result.output
    assert client_row(shop["client_id"]).client_secret_digest not in result.output
    assert all("secret" not in key for entry in listed for key in entry)


def test_delete_removes_the_client_and_revokes_its_tokens(app, rp, create_user, resource_server):
    output = create(app, "--name", "Shop", "--redirect-uri", "https://rp.example/cb")
    client = client_row(output["client_id"])
    tokens = rp.tokens(client, output["client_secret"], create_user(email="ada@example.com"))
    assert rp.introspect(*resource_server, tokens["access_token"]).get_json()["active"] is True

    result = run(app, "delete", output["client_id"])

    assert result.exit_code == 0, result.output
    assert client_row(output["client_id"]) is None
    assert count_rows(RefreshToken) == 0
    assert rp.introspect(*resource_server, tokens["access_token"]).get_json() == {"active": False}
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    refresh = rp.refresh(client, output["client_secret"], tokens["refresh_token"])
    assert refresh.status_code == 401 and refresh.get_json()["error"] == "invalid_client"
    assert audit_types()[-1] == "admin.client_deleted"


def test_delete_also_ends_machine_tokens(app, rp, resource_server):
    output = create(app, "--name", "Job", "--grant", "client_credentials", "--scope", "reports")
    token = rp.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(output["client_id"], output["client_secret"])
    ).get_json()["access_token"]

    assert run(app, "delete", output["client_id"]).exit_code == 0

    assert rp.introspect(*resource_server, token).get_json() == {"active": False}


def test_a_disabled_clients_tokens_are_inactive(app, rp, create_user, create_oauth_client, resource_server):
    from app.core.client_cache import client_cache

    client, secret = create_oauth_client()
    tokens = rp.tokens(client, secret, create_user(email="ada@example.com"))
    client.is_disabled = True
    db.session.commit()
    client_cache().invalidate(client.client_id)

    assert rp.introspect(*resource_server, tokens["access_token"]).get_json() == {"active": False}
    assert rp.userinfo(tokens["access_token"]).status_code == 401


def test_delete_of_an_unknown_client_fails_and_changes_nothing(app):
    create(app, "--name", "Shop", "--redirect-uri", "https://shop.example/cb")

    result = run(app, "delete", "no-such-client")

    assert result.exit_code == 1
    assert count_rows(OAuthClient) == 1


UNSAFE_REDIRECT_URIS = [
    "https://rp.example/cb#fragment",
    "https://rp.example/cb#",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html,x",
    "vbscript:msgbox",
    "file:///etc/passwd",
    "http://rp.example/cb",
    "http://localhost.evil.example/cb",
    "http://127.0.0.1.evil.example/cb",
    "https://user@rp.example/cb",
    "https://user:pass@rp.example/cb",
    "https://rp.example@evil.example/cb",
    "/relative/cb",
    "rp.example/cb",
    "https:///cb",
    "https://rp.example/c b",
    "https://rp.example/cb\n",
    "https://" + "a" * 500 + ".example/cb",
]


def test_create_refuses_unsafe_redirect_uris(app, subtests):
    for uri in UNSAFE_REDIRECT_URIS:
        with subtests.test(uri=uri[:60]):
            result = run(app, "create", "--name", "Bad", "--redirect-uri", "https://fine.example/cb", "--redirect-uri", uri)

            assert result.exit_code == 2
            assert "Refused" in result.output
            assert count_rows(OAuthClient) == 0
            assert count_rows(AuditEvent) == 0


def test_create_accepts_https_and_loopback_http(app):
    for uri in ["http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb", "https://rp.example/cb?tenant=1"]:
        assert create(app, "--name", "Ok", "--redirect-uri", uri)["client_id"]


def test_create_refuses_client_credentials_for_a_public_client(app):
    result = run(app, "create", "--name", "Bad", "--type", "public", "--grant", "client_credentials")

    assert result.exit_code == 2 and count_rows(OAuthClient) == 0


def test_create_refuses_the_code_grant_without_a_redirect_uri(app):
    result = run(app, "create", "--name", "Bad")

    assert result.exit_code == 2 and count_rows(OAuthClient) == 0


def test_create_refuses_none_auth_for_a_confidential_client(app):
    result = run(app, "create", "--name", "Bad", "--redirect-uri", "https://rp.example/cb", "--auth-method", "none")

    assert result.exit_code == 2 and count_rows(OAuthClient) == 0


def test_created_clients_are_usable_immediately(app, rp, create_user):
    """The per-process client cache must not hide a client created a moment ago (after a miss)."""
    assert rp.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("later", "x")).status_code == 401
    output = create(app, "--name", "Shop", "--redirect-uri", "https://rp.example/cb")
    client = client_row(output["client_id"])

    tokens = rp.tokens(client, output["client_secret"], create_user(email="ada@example.com"))

    assert tokens["access_token"]


def test_a_new_client_never_inherits_a_deleted_clients_consents(app, rp, create_user):
    """SQLite reuses the highest row id: rows left behind would hand the next client the old consents."""
    first = create(app, "--name", "Old", "--redirect-uri", "https://rp.example/cb")
    rp.code(client_row(first["client_id"]), create_user(email="ada@example.com"))  # consent given
    assert run(app, "delete", first["client_id"]).exit_code == 0

    second = client_row(create(app, "--name", "New", "--redirect-uri", "https://rp.example/cb")["client_id"])

    page = rp.authorize(rp.request(second))
    assert page.status_code == 200 and 'id="client-name">New<' in page.get_data(as_text=True)
