"""Error pages: friendly, the right status, security headers, and no stack trace or exception text."""

from __future__ import annotations

import pytest
from flask import abort

from app.web.errors import TITLES
from tests.integration.web.helpers import post_form

LEAK_MARKERS = ["Traceback", "werkzeug", 'File "', "Exception", "Error:", "sqlalchemy"]


def assert_friendly(response, status: int) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    title, text = TITLES[status]
    assert f"<h1>{title}</h1>" in html.replace("&#39;", "'")
    assert f"Error {status}" in html
    assert response.headers["X-Request-ID"] in html  # a reference the person can quote
    for marker in LEAK_MARKERS:
        assert marker not in html, f"error page shows {marker!r}"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    return html


def test_a_post_without_a_csrf_token_gets_the_friendly_400(test_client):
    response = test_client.post("/login", data={"email": "ada@example.com", "password": "x"})
    html = assert_friendly(response, 400)
    assert "CSRF" not in html


def test_a_forbidden_page_gets_the_friendly_403(app_factory):
    app = app_factory()
    app.add_url_rule("/forbidden-for-test", "forbidden_for_test", lambda: abort(403))
    assert_friendly(app.test_client().get("/forbidden-for-test"), 403)


def test_an_unknown_address_gets_the_friendly_404(test_client):
    html = assert_friendly(test_client.get("/nothing-here"), 404)
    assert "requested URL was not found" not in html  # not werkzeug's stock page


def test_a_wrong_method_gets_the_friendly_405_and_keeps_allow(test_client):
    response = test_client.put("/login")
    assert_friendly(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_body_over_max_content_length_gets_the_friendly_413(test_client, app):
    oversized = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = test_client.post("/login", data={"email": "ada@example.com", "password": oversized})
    assert_friendly(response, 413)


def test_a_rate_limited_request_gets_the_friendly_429_with_retry_after(limited_app):
    app = limited_app(LIMIT_LOGIN_IP="1 per minute")
    client = app.test_client()
    post_form(client, "/login", {"email": "ada@example.com", "password": "wrong"})
    response = post_form(client, "/login", {"email": "ada@example.com", "password": "wrong"})
    html = assert_friendly(response, 429)
    assert "Too many attempts" in html
    assert int(response.headers["Retry-After"]) > 0


@pytest.fixture
def failing_app(app_factory):
    app = app_factory()

    def explode():
        raise RuntimeError("db password=hunter2 at /srv/secret/path")

    app.add_url_rule("/explode-for-test", "explode_for_test", explode)
    return app


def test_an_unexpected_exception_gets_the_friendly_500_without_its_text(failing_app):
    response = failing_app.test_client().get("/explode-for-test")
    html = assert_friendly(response, 500)
    assert "hunter2" not in html and "RuntimeError" not in html and "/srv/secret" not in html


def test_an_unexpected_exception_is_logged_with_its_request_id_and_redacted(failing_app, capture_app_log):
    log = capture_app_log()
    response = failing_app.test_client().get("/explode-for-test")
    output = log.getvalue()
    assert f"[{response.headers['X-Request-ID']}] unhandled error: RuntimeError" in output
    assert "Traceback" in output  # the operator gets the stack, the person does not
    assert "hunter2" not in output


def test_an_error_inside_a_transaction_does_not_leave_it_open(failing_app):
    from app.extensions import db
    from app.models import User

    def half_write():
        db.session.add(User(email="half@example.com", password_hash=None))
        db.session.flush()
        raise RuntimeError("after a flush")

    failing_app.add_url_rule("/half-write-for-test", "half_write_for_test", half_write)
    assert failing_app.test_client().get("/half-write-for-test").status_code == 500
    with failing_app.app_context():
        assert db.session.query(User).filter_by(email="half@example.com").count() == 0
