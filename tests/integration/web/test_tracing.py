"""Optional OpenTelemetry tracing: off without an OTLP endpoint; with one, spans by route reach a collector, secrets don't.

The traced app runs in a child process: the tracer provider and the requests instrumentation are
process-wide, and would otherwise follow every later test in this run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app.config import PROJECT_ROOT
from app.web.tracing import tracing_wanted


class Collector(ThreadingHTTPServer):
    """A loopback OTLP/HTTP trace receiver that keeps every export it is sent."""

    def __init__(self) -> None:
        self.exports: list[bytes] = []
        super().__init__(("127.0.0.1", 0), _Receiver)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list:
        found = []
        for raw in self.exports:
            request = ExportTraceServiceRequest()
            request.ParseFromString(raw)
            found += [span for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans]
        return found


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.server.exports.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


TRACED_APP = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from app import create_app
    from app.config import TestConfig
    from app.extensions import db

    app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI="sqlite://"))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    client.get("/reset-password/SECRET-RESET-TOKEN?code=SECRET-QUERY")
    client.get("/login")
    client.get("/no-such-page/SECRET-404-PATH")
    client.get("/healthz")
    client.get("/oauth/authorize?client_id=no-such-client&response_type=code")  # looks the client up
    provider = trace.get_tracer_provider()
    getattr(provider, "force_flush", lambda: None)()
    print("traced" if type(provider).__name__ == "TracerProvider" else "untraced")
    """
)


def run_app(env_changes: dict[str, str]) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("IDP_", "OTEL_"))}
    env.update(env_changes)
    result = subprocess.run(
        [sys.executable, "-c", TRACED_APP], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "idp"}, False),  # a name alone exports nowhere
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_an_otlp_endpoint_is_set(environ, wanted):
    assert tracing_wanted(environ) is wanted


def test_without_an_endpoint_nothing_is_traced(collector):
    assert run_app({}) == "untraced"
    assert collector.exports == []


def test_with_an_endpoint_requests_and_their_sql_become_spans_named_by_route(collector):
    assert run_app({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "idp-test"}) == "traced"

    spans = collector.spans()
    names = {span.name for span in spans}
    assert {"GET /reset-password/<token>", "GET /login", "GET unmatched", "GET /oauth/authorize"} <= names
    assert "GET /healthz" not in names  # probes are not traced
    server_spans = [span for span in spans if span.name.startswith("GET /")]
    sql_spans = [span for span in spans if any(attribute.key == "db.system" for attribute in span.attributes)]
    assert sql_spans, names
    authorize = next(span for span in server_spans if span.name == "GET /oauth/authorize")
    assert any(span.trace_id == authorize.trace_id and span.parent_span_id for span in sql_spans)  # the client lookup


def test_no_path_secret_or_query_string_reaches_the_collector(collector):
    run_app({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})

    assert collector.exports
    everything = b"".join(collector.exports)
    assert b"SECRET" not in everything  # the reset token, the query string, a 404's path
    routes = {
        attribute.value.string_value
        for span in collector.spans()
        for attribute in span.attributes
        if attribute.key in {"http.target", "url.path"}
    }
    assert "/reset-password/<token>" in routes and "unmatched" in routes
