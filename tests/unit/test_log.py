"""Logging: secrets masked, access lines name the route pattern, every line carries the request id."""

from __future__ import annotations

import json
import logging
import re

import pytest

from app.log import redact

GENERATED_ID = re.compile(r"[0-9a-f]{16}")


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("password=hunter2", "hunter2"),
        ("PASSWORD=hunter2", "hunter2"),
        ("token: abc123def", "abc123def"),
        ('secret="s3cr3t-value"', "s3cr3t-value"),
        ('{"password": "hunter2", "user": "ada"}', "hunter2"),
        ("GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz", "SplxlOBeZQQYbYS6WxSbIA"),
        ("client_secret=cs_live_123", "cs_live_123"),
        ("refresh_token=rt_abc, next", "rt_abc"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
        ("Authorization: Basic Y2xpZW50OnNlY3JldA==", "Y2xpZW50OnNlY3JldA"),
    ],
)
def test_values_after_secret_words_are_redacted(line, secret):
    redacted = redact(line)
    assert secret not in redacted
    assert "[redacted]" in redacted


def test_redaction_keeps_the_rest_of_the_line_readable():
    assert redact("GET /cb?code=abc&state=xyz") == "GET /cb?code=[redacted]&state=xyz"
    assert redact("user ada signed in from 203.0.113.9") == "user ada signed in from 203.0.113.9"


def test_the_text_log_handler_redacts_what_app_code_logs(app, capture_app_log):
    log = capture_app_log()
    logging.getLogger("app.example").warning("callback got token=%s", "tok_SECRET_1")
    output = log.getvalue()
    assert "token=[redacted]" in output and "tok_SECRET_1" not in output


def test_the_json_log_handler_writes_one_redacted_object_per_line(app_factory, capture_app_log):
    app_factory(LOG_JSON=True)
    log = capture_app_log()
    logger = logging.getLogger("app.example")
    logger.warning("login with password=%s", "hunter2-SECRET")
    try:
        raise RuntimeError("failed with secret=sk_SECRET_2")
    except RuntimeError:
        logger.exception("boom")
    first, second = (json.loads(line) for line in log.getvalue().splitlines())
    assert first["message"] == "login with password=[redacted]"
    assert set(first) >= {"time", "level", "logger", "request_id", "message"}
    assert first["level"] == "WARNING" and first["logger"] == "app.example"
    assert "exception" in second and "sk_SECRET_2" not in second["exception"]
    assert "hunter2-SECRET" not in log.getvalue() and "sk_SECRET_2" not in log.getvalue()


def test_the_access_log_names_the_route_pattern_never_the_reset_token(app, capture_app_log):
    log = capture_app_log()
    token = "reset_SECRETpathTOKEN0123456789abcdefghijklmnop"
    app.test_client().get(f"/reset-password/{token}")
    output = log.getvalue()
    assert "GET /reset-password/<token> 400" in output
    assert "SECRETpathTOKEN" not in output


def test_the_access_log_leaves_out_the_query_string(app, capture_app_log):
    log = capture_app_log()
    app.test_client().get("/login?next=/account/&token=qSECRETq")
    output = log.getvalue()
    assert "GET /login 200" in output and "qSECRETq" not in output


def test_the_access_log_does_not_echo_unmatched_paths(app, capture_app_log):
    log = capture_app_log()
    app.test_client().get("/verify-emial/vSECRETv")
    output = log.getvalue()
    assert "GET <unmatched> 404" in output and "vSECRETv" not in output


def test_each_response_gets_a_fresh_request_id_that_its_log_lines_carry(app, capture_app_log):
    log = capture_app_log()
    client = app.test_client()
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login").headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second) and first != second
    assert f"[{first}] GET /login 200" in log.getvalue()


def test_a_well_formed_incoming_request_id_is_echoed_and_logged(app, capture_app_log):
    log = capture_app_log()
    incoming = "proxy-7f3a.b_c-0001"
    response = app.test_client().get("/login", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert f"[{incoming}] GET /login 200" in log.getvalue()


@pytest.mark.parametrize("incoming", ["short", "x" * 65, "has spaces in it", "<script>alert(1)</script>", "id;rm -rf /", ""])
def test_a_malformed_incoming_request_id_is_replaced(app, incoming):
    response = app.test_client().get("/login", headers={"X-Request-ID": incoming})
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
