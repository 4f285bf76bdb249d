"""Optional OpenTelemetry tracing: on only when OpenTelemetry's own variables name an OTLP endpoint.

Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) nothing is imported and nothing
changes. With it, every request becomes a server span named by its route pattern, with child spans
for its SQL statements (SQLAlchemy sends them with placeholders, never the values) and for calls to
upstream providers (requests); they go to the collector over OTLP/HTTP in a background batch.
Everything else (service name, headers, sampling) comes from the standard ``OTEL_*`` variables.

Paths can carry secrets (a password-reset link is ``/reset-password/<token>``) and query strings can
carry a provider's authorization code, so each span's URL attributes are rewritten to the route
pattern before it is exported: a trace never holds more than the access log does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask, request

from app.extensions import db

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Probes and scrapes would be most of the spans and say nothing.
UNTRACED_PATHS = "healthz,readyz,metrics"
# Attributes (old and stable HTTP semantic conventions) that hold the raw path or query string.
_PATH_ATTRIBUTES = ("http.target", "url.path")
_URL_ATTRIBUTES = ("http.url", "url.full")
_QUERY_ATTRIBUTES = ("url.query",)


def tracing_wanted(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def init_tracing(app: Flask) -> bool:
    """Instrument this app when tracing is wanted; whether it was. Called last by the factory."""
    if not tracing_wanted(os.environ):
        return False
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    provider = _tracer_provider()
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_PATHS, enable_commenter=False)
    app.before_request(_route_not_path)  # after the instrumentation's own hook, which opened the span
    with app.app_context():
        # Its declared range stops before SQLAlchemy 2.1, whose engine events it uses are unchanged;
        # tests/integration/web/test_tracing.py checks the SQL spans arrive.
        SQLAlchemyInstrumentor().instrument(
            engine=db.engine, tracer_provider=provider, enable_commenter=False, skip_dep_check=True
        )
    if not RequestsInstrumentor().is_instrumented_by_opentelemetry:
        RequestsInstrumentor().instrument(tracer_provider=provider)
    return True


def _tracer_provider():
    """One provider per process, exporting over OTLP/HTTP in batches (the exporter reads the OTEL_* variables)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    # Resource.create() honours OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; "idp" when neither is set.
    resource = Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "idp"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _route_not_path() -> None:
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    span.update_name(f"{request.method} {route}")  # a 404's default name is its raw path
    recorded = getattr(span, "attributes", None) or {}
    for name in _PATH_ATTRIBUTES:
        if name in recorded:
            span.set_attribute(name, route)
    for name in _URL_ATTRIBUTES:
        if name in recorded:
            span.set_attribute(name, request.host_url.rstrip("/") + route)
    for name in _QUERY_ATTRIBUTES:
        if name in recorded:
            span.set_attribute(name, "")
