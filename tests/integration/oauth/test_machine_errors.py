"""Protocol endpoints answer programs: even failures outside OAuth's own handling are JSON, not pages."""

from __future__ import annotations

import pytest

from app.oauth import views


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_a_wrong_method_gets_a_json_error_with_allow(test_client, path):
    response = test_client.get(path)

    assert response.status_code == 405
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Allow"]
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unexpected_failure_gets_server_error_json_and_leaks_nothing(test_client, monkeypatch, capture_app_log):
    def explode(_request):
        raise RuntimeError("db password=hunter2 is wrong")

    monkeypatch.setattr(views.authorization_server(), "create_token_response", explode)
    log = capture_app_log()

    response = test_client.post("/oauth/token", data={"grant_type": "client_credentials"})

    assert response.status_code == 500
    assert response.get_json() == {"error": "server_error", "error_description": "Something went wrong."}
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" in log.getvalue() and "hunter2" not in log.getvalue()


def test_pages_for_people_still_get_the_friendly_page(test_client):
    response = test_client.delete("/login")

    assert response.status_code == 405
    assert response.mimetype == "text/html"


def test_a_value_the_database_refuses_is_a_bad_request_not_a_server_error(test_client):
    # PostgreSQL refuses NUL bytes in text (SQLite stores them and finds nothing): 4xx either way.
    response = test_client.post("/oauth/introspect", data={"token": "x"}, auth=("a\x00b", "secret"))

    assert 400 <= response.status_code < 500
    assert response.get_json()["error"] in ("invalid_client", "invalid_request")


def test_a_page_given_a_value_the_database_refuses_answers_400(test_client):
    response = test_client.get("/oauth/authorize?client_id=a%00b&response_type=code")

    assert response.status_code == 400 and response.mimetype == "text/html"
