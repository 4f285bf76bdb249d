"""application_type (OIDC Dynamic Client Registration 2, RFC 8252): stored, reported, and what it allows.

A web client's redirect URIs are https (or http on loopback, compared exactly); a native app may also use
a private-use scheme, and its loopback redirect may arrive on any port (RFC 8252 7.3).
"""

from __future__ import annotations

import json
import logging.config
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import select

from app import config as app_config
from app import create_app
from app.config import PROJECT_ROOT
from app.extensions import db
from app.models import AuthorizationCode, OAuthClient
from tests.conftest import csrf_from
from tests.integration.admin.conftest import admin, console  # noqa: F401 (fixtures for the console tests)
from tests.integration.oauth.conftest import count_rows, params_of
from tests.integration.oauth.registration_helpers import config_request, register, row_of

NATIVE_SCHEME = "com.example.app:/oauth2redirect"
WEB = {"client_name": "Web RP", "redirect_uris": ["https://rp.example/cb"]}
NATIVE = {
    "client_name": "Native App",
    "application_type": "native",
    "token_endpoint_auth_method": "none",
    "redirect_uris": [NATIVE_SCHEME, "http://127.0.0.1/callback", "http://[::1]/callback", "https://app.example/cb"],
}


@pytest.fixture
def http(app, test_client):
    app.config["OPEN_CLIENT_REGISTRATION"] = True
    return test_client


def assert_refused(response, error: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error


# --- registration: what each type may register, and what is stored ---


def test_a_client_that_names_no_type_is_web_and_stored_so(http):
    body = register(http, WEB).get_json()

    assert body["application_type"] == "web"
    assert row_of(body["client_id"]).application_type == "web"


@pytest.mark.parametrize("uri", ["https://rp.example/cb", "http://127.0.0.1:8765/cb", "http://[::1]/cb", "http://localhost/cb"])
def test_web_clients_register_https_and_keep_loopback_http(http, uri):
    response = register(http, {**WEB, "application_type": "web", "redirect_uris": [uri]})

    assert response.status_code == 201, response.get_json()
    assert row_of(response.get_json()["client_id"]).application_type == "web"


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
@pytest.mark.parametrize("application_type", [None, "web"])
def test_a_web_client_may_not_use_a_private_use_scheme(http, field, application_type):
    metadata = {**WEB, field: ["https://rp.example/cb", NATIVE_SCHEME]}
    if application_type:
        metadata["application_type"] = application_type

    response = register(http, metadata)

    assert_refused(response, "invalid_redirect_uri")
    assert "application_type native" in response.get_json()["error_description"]
    assert count_rows(OAuthClient) == 0


def test_a_native_app_registers_private_use_https_and_loopback_redirects(http):
    response = register(http, NATIVE)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["application_type"] == "native"
    assert body["redirect_uris"] == NATIVE["redirect_uris"]
    assert row_of(body["client_id"]).application_type == "native"


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/cb",  # http off loopback
        "myapp:/cb",  # a private-use scheme must be reverse-DNS (RFC 8252 7.1)
        "javascript:alert(1)",
        "file:///etc/passwd",
        "com.example.app:/cb#fragment",
        "https://user@app.example/cb",
    ],
)
def test_a_native_app_still_may_not_register_unsafe_redirects(http, uri):
    response = register(http, {**NATIVE, "redirect_uris": [NATIVE_SCHEME, uri]})

    assert_refused(response, "invalid_redirect_uri")
    assert count_rows(OAuthClient) == 0


@pytest.mark.parametrize("value", ["desktop", "Native", "WEB", "", " web", 1, 0, True, ["native"], {"type": "native"}])
def test_an_unknown_or_malformed_application_type_is_refused_and_nothing_stored(http, value):
    response = register(http, {**WEB, "application_type": value})

    assert_refused(response, "invalid_client_metadata")
    assert "application_type" in response.get_json()["error_description"]
    assert count_rows(OAuthClient) == 0


def test_a_json_null_application_type_means_the_default(http):
    body = register(http, {**WEB, "application_type": None}).get_json()

    assert body["application_type"] == "web"


# --- RFC 7592: read and update report and change the stored type ---


def test_read_reports_the_stored_type_not_a_guess(http):
    """A native app with only https redirects is still native: the stored value, never the schemes, decides."""
    registered = register(http, {**NATIVE, "redirect_uris": ["https://app.example/cb"]}).get_json()

    read = config_request(http, registered)

    assert read.status_code == 200
    assert registered["application_type"] == read.get_json()["application_type"] == "native"


def _update(registered: dict, **changes) -> dict:
    fields = ("client_id", "client_name", "redirect_uris", "token_endpoint_auth_method", "application_type")
    return {**{k: registered[k] for k in fields}, **changes}


def test_a_native_app_becomes_web_only_with_redirects_a_web_client_may_use(http):
    registered = register(http, NATIVE).get_json()

    refused = config_request(http, registered, "PUT", _update(registered, application_type="web"))

    assert_refused(refused, "invalid_redirect_uri")
    row = row_of(registered["client_id"])
    assert (row.application_type, row.redirect_uris) == ("native", NATIVE["redirect_uris"])

    changed = _update(registered, application_type="web", redirect_uris=["https://app.example/cb"])
    response = config_request(http, registered, "PUT", changed)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["application_type"] == "web"
    assert row_of(registered["client_id"]).application_type == "web"
    assert config_request(http, registered).get_json()["application_type"] == "web"


def test_an_update_that_omits_the_type_means_web(http):
    """RFC 7592 2.2 replaces the metadata: an omitted application_type is the default, checked as such."""
    registered = register(http, NATIVE).get_json()
    update = {k: v for k, v in _update(registered).items() if k != "application_type"}

    assert_refused(config_request(http, registered, "PUT", update), "invalid_redirect_uri")
    assert row_of(registered["client_id"]).application_type == "native"


def test_a_web_client_becomes_native_together_with_a_private_use_redirect(http):
    registered = register(http, {**WEB, "token_endpoint_auth_method": "none"}).get_json()
    update = _update(registered, application_type="native", redirect_uris=[NATIVE_SCHEME])

    response = config_request(http, registered, "PUT", update)

    assert response.status_code == 200, response.get_json()
    assert row_of(registered["client_id"]).application_type == "native"


@pytest.mark.parametrize("value", ["desktop", 7, ["web"]])
def test_an_update_with_a_bad_type_changes_nothing(http, value):
    registered = register(http, NATIVE).get_json()

    response = config_request(http, registered, "PUT", _update(registered, application_type=value, client_name="Renamed"))

    assert_refused(response, "invalid_client_metadata")
    row = row_of(registered["client_id"])
    assert (row.application_type, row.name) == ("native", "Native App")


# --- the authorization and token endpoints: a loopback port varies for native apps only ---


@pytest.fixture
def signed_in(auth, create_user):
    user = create_user(email="ada@example.com")
    auth.login(user.email)
    return user


def _registered_client(http, metadata) -> OAuthClient:
    response = register(http, metadata)
    assert response.status_code == 201, response.get_json()
    return row_of(response.get_json()["client_id"])


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_a_native_apps_loopback_redirect_may_use_any_port(http, rp, signed_in, host, subtests):
    client = _registered_client(http, {**NATIVE, "redirect_uris": [f"http://{host}/callback"]})
    for port in ["", ":1", ":51234", ":65535"]:
        with subtests.test(port=port):
            response = rp.authorize(rp.request(client, redirect_uri=f"http://{host}{port}/callback"))
            assert response.status_code == 200  # the consent page: the URI was accepted


@pytest.mark.parametrize("registered", ["http://127.0.0.1:8765/cb", "http://[::1]:8765/cb", "http://127.0.0.1/cb"])
def test_a_web_clients_loopback_redirect_is_compared_exactly(http, rp, signed_in, registered):
    client = _registered_client(http, {**WEB, "redirect_uris": [registered]})
    other_port = registered.replace(":8765", ":9000") if ":8765" in registered else registered.replace("1/cb", "1:9000/cb")

    assert rp.authorize(rp.request(client, redirect_uri=registered)).status_code == 200
    refused = rp.authorize(rp.request(client, redirect_uri=other_port))

    assert refused.status_code == 400 and "Location" not in refused.headers  # the IdP's own error page
    assert count_rows(AuthorizationCode) == 0


def test_the_code_is_redeemed_only_with_the_port_it_was_issued_to(http, rp, signed_in):
    """RFC 6749 4.1.3: the token request's redirect_uri equals the authorization request's, byte for byte."""
    client = _registered_client(http, {**NATIVE, "redirect_uris": ["http://127.0.0.1/callback"]})
    issued = rp.code(client, redirect_uri="http://127.0.0.1:51234/callback")

    for presented in ["http://127.0.0.1:51235/callback", "http://127.0.0.1/callback"]:
        wrong = rp.redeem(client, None, issued, redirect_uri=presented)
        assert (wrong.status_code, wrong.get_json()["error"]) == (400, "invalid_grant")
    other = rp.code(client, redirect_uri="http://127.0.0.1:40000/callback")
    assert rp.redeem(client, None, other).status_code == 200
    silent = rp.authorize(rp.request(client, redirect_uri="http://127.0.0.1:40001/callback", prompt="none"))
    assert silent.headers["Location"].startswith("http://127.0.0.1:40001/callback?") and "code" in params_of(silent)


def test_clients_made_elsewhere_store_their_type(create_oauth_client):
    native, _ = create_oauth_client(is_confidential=False, redirect_uris=[NATIVE_SCHEME], is_native=True)
    web, _ = create_oauth_client()

    assert (row_of(native.client_id).application_type, row_of(web.client_id).application_type) == ("native", "web")


# --- the CLI ---


def test_the_cli_creates_web_clients_by_default_and_native_ones_when_asked(app):
    runner = app.test_cli_runner()
    base = ["clients", "create", "--name", "Tool", "--type", "public", "--redirect-uri", NATIVE_SCHEME]

    refused = runner.invoke(args=base)
    created = runner.invoke(args=[*base, "--application-type", "native"])
    bad = runner.invoke(args=[*base, "--application-type", "desktop"])

    assert refused.exit_code == 2 and "Refused" in refused.output
    assert created.exit_code == 0, created.output
    assert row_of(json.loads(created.output)["client_id"]).application_type == "native"
    assert bad.exit_code == 2 and count_rows(OAuthClient) == 1
    listed = [json.loads(line) for line in runner.invoke(args=["clients", "list"]).output.splitlines()]
    assert [c["application_type"] for c in listed] == ["native"]


# --- the admin console ---

CONSOLE_CREATE = {
    "client_type": "public",
    "name": "Desktop",
    "redirect_uris": f"{NATIVE_SCHEME}\nhttp://127.0.0.1/cb",
    "grant_types": ["authorization_code"],
    "scope": "openid",
    "token_endpoint_auth_method": "none",
}


def console_post(console, path: str, data: dict, page: str | None = None):  # noqa: F811 (the imported fixture)
    token = csrf_from(console.get(page or path).get_data(as_text=True))
    return console.post(path, data={**data, "csrf_token": token})


def test_the_console_creates_a_native_app_and_shows_its_type(console):  # noqa: F811
    response = console_post(console, "/admin/clients/new", {**CONSOLE_CREATE, "application_type": "native"})

    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    (row,) = db.session.scalars(select(OAuthClient)).all()
    assert row.application_type == "native"
    page = console.get(f"/admin/clients/{row.client_id}").get_data(as_text=True)
    assert '<option selected value="native">' in page


@pytest.mark.parametrize("value, why", [(None, "https"), ("web", "https"), ("desktop", "Not a valid choice")])
def test_the_console_refuses_a_private_use_scheme_for_web_and_unknown_types(console, value, why):  # noqa: F811
    data = {**CONSOLE_CREATE} if value is None else {**CONSOLE_CREATE, "application_type": value}

    response = console_post(console, "/admin/clients/new", data)

    assert response.status_code == 400
    assert why in response.get_data(as_text=True)
    assert count_rows(OAuthClient) == 0


def test_the_console_edit_changes_the_type(console, create_oauth_client):  # noqa: F811
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=["https://app.example/cb"])
    path, page = f"/admin/clients/{client.client_id}/edit", f"/admin/clients/{client.client_id}"
    data = {**CONSOLE_CREATE, "application_type": "native"}
    del data["client_type"]

    response = console_post(console, path, data, page=page)

    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert row_of(client.client_id).application_type == "native"


# --- the migration's backfill ---


def test_the_migration_backfills_the_type_each_client_behaved_as(tmp_path, monkeypatch):
    monkeypatch.setattr(logging.config, "fileConfig", lambda *args, **kwargs: None)  # keep the app's loggers
    url = f"sqlite:///{tmp_path / 'backfill.sqlite3'}"
    migrations = str(PROJECT_ROOT / "migrations")
    app = create_app(app_config.TestConfig(SQLALCHEMY_DATABASE_URI=url))
    clients = {
        "https-only": ["https://rp.example/cb"],
        "private-use": ["https://rp.example/cb", NATIVE_SCHEME],
        "loopback-ip": ["http://127.0.0.1:8080/cb"],
        "loopback-v6": ["http://[::1]/cb"],
        "loopback-name": ["http://localhost:3000/cb"],
        "https-loopback": ["https://127.0.0.1/cb"],
        "none": [],
    }
    with app.app_context():
        upgrade(directory=migrations, revision="0010")
        lists = ("redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types")
        flags = ("is_confidential", "is_first_party", "is_disabled", "roles_claim", "allow_plain_code_flow")
        flags += ("is_dynamically_registered",)
        table = sa.table(
            "oauth_client",
            *(sa.column(n) for n in ("client_id", "name", "token_endpoint_auth_method", "scope")),
            sa.column("created_at", sa.DateTime),
            *(sa.column(n, sa.JSON) for n in lists),
            *(sa.column(n, sa.Boolean) for n in flags),
        )
        with db.engine.begin() as connection:
            for name, uris in clients.items():
                values = {n: [] for n in lists} | {n: False for n in flags}
                values |= {"client_id": name, "name": name, "token_endpoint_auth_method": "none", "scope": ""}
                values |= {"redirect_uris": uris, "created_at": datetime(2026, 12, 1)}
                connection.execute(sa.insert(table), values)
        upgrade(directory=migrations, revision="0011")
        with db.engine.connect() as connection:
            rows = dict(connection.execute(sa.text("SELECT client_id, application_type FROM oauth_client")).all())
        db.session.remove()
        db.engine.dispose()

    native = {"private-use", "loopback-ip", "loopback-v6", "loopback-name"}
    assert rows == {name: "native" if name in native else "web" for name in clients}
