"""PostgreSQL unreachable: pages get the app's own 503 page, protocol endpoints RFC 6749 JSON, and it recovers.

The app talks to PostgreSQL through a TCP proxy (tests/faults.py); ``cut()`` resets its connections
and refuses new ones, as a database that went away does. Nothing restarts the app afterwards.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy.engine import make_url

from app.core.clients import ClientSpec, create_client
from app.extensions import db
from tests.conftest import DEFAULT_PASSWORD
from tests.faults import TcpProxy
from tests.integration.web.helpers import add_user, post_form

DATABASE_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"), reason="needs IDP_TEST_DATABASE_URL (PostgreSQL)")

FRAMEWORK_MARKERS = ("Internal Server Error", "Traceback", "werkzeug", "sqlalchemy", "psycopg", "OperationalError")


@pytest.fixture
def db_proxy():
    url = make_url(DATABASE_URL)
    proxy = TcpProxy(url.port or 5432, url.host or "127.0.0.1")
    yield proxy
    proxy.close()


@pytest.fixture
def outage_app(db_proxy, app_factory):
    url = make_url(DATABASE_URL).set(host="127.0.0.1", port=db_proxy.port).update_query_dict({"connect_timeout": "2"})
    app = app_factory(SQLALCHEMY_DATABASE_URI=url.render_as_string(hide_password=False))
    yield app
    db_proxy.restore()  # app_factory's teardown empties the tables through the proxy


def sign_in(app, email="ada@example.com"):
    add_user(app, email)
    client = app.test_client()
    assert post_form(client, "/login", {"email": email, "password": DEFAULT_PASSWORD}).status_code == 303
    return client


def machine_client(app):
    with app.app_context():
        spec = ClientSpec(name="Batch", is_confidential=True, redirect_uris=[], grant_types=["client_credentials"], scope="api")
        client, secret = create_client(spec)
        db.session.commit()
        return client.client_id, secret


def assert_unavailable_page(response):
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h1>Temporarily unavailable</h1>" in html
    assert response.headers["X-Request-ID"] in html  # the app's page, rendered by the app
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    for marker in FRAMEWORK_MARKERS:
        assert marker not in html


def assert_unavailable_json(response):
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    for marker in FRAMEWORK_MARKERS:
        assert marker not in response.get_data(as_text=True)


def test_a_signed_in_page_answers_the_apps_503_page_and_recovers(outage_app, db_proxy):
    client = sign_in(outage_app)
    assert client.get("/account/").status_code == 200

    db_proxy.cut()
    assert_unavailable_page(client.get("/account/"))
    assert_unavailable_page(client.get("/account/sessions"))

    db_proxy.restore()
    response = client.get("/account/")
    assert response.status_code == 200 and "ada@example.com" in response.get_data(as_text=True)  # still signed in


def test_connections_broken_while_idle_are_replaced_before_use(outage_app, db_proxy):
    # The pool's connections die in an outage no request saw; pool_pre_ping finds them before a query does.
    client = sign_in(outage_app)
    assert client.get("/account/").status_code == 200
    db_proxy.cut()
    db_proxy.restore()
    assert client.get("/account/").status_code == 200


def test_a_database_that_never_answers_gets_the_503_within_the_connect_timeout(outage_app, db_proxy):
    # Nothing refuses the connection, nothing answers it: connect_timeout (2 s here, 5 s by default in
    # production, see with_connect_timeout) turns it into the 503 well before gunicorn's 30 s worker timeout.
    client = sign_in(outage_app)
    db_proxy.stall()
    started = time.monotonic()
    assert_unavailable_page(client.get("/account/"))
    assert time.monotonic() - started < 10
    db_proxy.restore()
    assert client.get("/account/").status_code == 200


def test_a_sign_in_during_the_outage_answers_503_and_works_after(outage_app, db_proxy):
    add_user(outage_app, "ada@example.com")
    client = outage_app.test_client()
    db_proxy.cut()
    response = post_form(client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert_unavailable_page(response)
    db_proxy.restore()
    assert post_form(client, "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}).status_code == 303


def test_the_token_endpoint_answers_temporarily_unavailable_json_and_recovers(outage_app, db_proxy):
    client_id, secret = machine_client(outage_app)
    http = outage_app.test_client()
    grant = {"grant_type": "client_credentials"}

    db_proxy.cut()
    assert_unavailable_json(http.post("/oauth/token", data=grant, auth=(client_id, secret)))
    assert_unavailable_json(http.post("/oauth/introspect", data={"token": "x"}, auth=(client_id, secret)))

    db_proxy.restore()
    response = http.post("/oauth/token", data=grant, auth=(client_id, secret))
    assert response.status_code == 200 and response.get_json()["access_token"]


def test_the_outage_is_logged_in_one_line_without_the_drivers_text(outage_app, db_proxy, capture_app_log):
    log = capture_app_log()
    client = sign_in(outage_app)
    db_proxy.cut()
    assert client.get("/account/").status_code == 503
    lines = [line for line in log.getvalue().splitlines() if "unavailable" in line.lower()]
    assert len(lines) == 1, log.getvalue()
    assert "WARNING" in lines[0] and "Traceback" not in log.getvalue()
    assert "127.0.0.1" not in lines[0] and "postgres" not in lines[0].lower()


def test_a_data_error_is_not_mistaken_for_an_outage(outage_app):
    def broken_query():
        db.session.execute(db.text("SELECT * FROM no_such_table"))

    outage_app.add_url_rule("/broken-query-for-test", "broken_query_for_test", broken_query)
    assert outage_app.test_client().get("/broken-query-for-test").status_code == 500


def test_readyz_answers_503_within_two_seconds_while_postgresql_is_cut_and_200_once_it_is_back(outage_app, db_proxy):
    client = outage_app.test_client()
    assert client.get("/readyz").status_code == 200

    db_proxy.cut()
    started = time.monotonic()
    during = client.get("/readyz")
    elapsed = time.monotonic() - started
    db_proxy.restore()
    after = client.get("/readyz")

    assert during.status_code == 503 and during.get_json()["database"] == "error" and elapsed < 2.0
    assert after.status_code == 200 and after.get_json()["database"] == "ok"
