"""Request metrics for every route, and the Prometheus scrape at /metrics.

/metrics exists only when IDP_METRICS_TOKEN is set: without it no route is registered, so the path is the
same 404 as any unknown one and the metrics can't be public by accident (they show traffic and failure
rates an attacker would like to watch). With it, a scrape must send `Authorization: Bearer <token>`,
compared in constant time; anything else is 401 with `WWW-Authenticate: Bearer`. A bearer token rather
than an address allow-list because the IdP may sit behind proxies, where the peer address says little.
The scrape is exempt from rate limits (a scraper polls forever) and CSRF (it changes nothing), never
cached, and not counted in the request metrics it reports.

The request hooks stay cheap (a clock read at the start; one counter and one histogram at the end, no
database): the token endpoint's cost per request matters. Routes are labelled by their pattern
(`/oauth/register/<client_id>`), never the path, and a request no route matched by "unmatched".
Discovery and the JWKS answered from the in-process cache (web/public_cache.py) never reach Flask and
are not counted.
"""

from __future__ import annotations

import hmac
import logging
from time import perf_counter

from flask import Flask, current_app, request
from flask.wrappers import Response
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import csrf, db, limiter
from app.metrics import DEPENDENCY_ERRORS, RATE_LIMITED, count, exposition, observe_request
from app.models.base import utcnow
from app.models.keys import SigningKey

log = logging.getLogger(__name__)

METRICS_ENDPOINT = "metrics"
_STARTED = "idp.metrics_started"
UNMATCHED = "unmatched"


def _start_clock() -> None:
    request.environ[_STARTED] = perf_counter()


def _count_request(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    rule = request.url_rule
    if started is None or (rule is not None and rule.endpoint == METRICS_ENDPOINT):
        return response
    route = rule.rule if rule is not None else UNMATCHED
    observe_request(route, request.method, response.status_code, perf_counter() - started)
    if response.status_code == 429:
        count(RATE_LIMITED, route=route)  # Flask-Limiter doesn't name its limits: the route says which
    return response


class SigningKeyAges:
    """idp_signing_key_age_seconds, read from the keys table at scrape time by the worker answering it.

    Computed here rather than stored, so it is right in multiprocess mode (a stored gauge would be one
    worker's stale view) and whichever process rotated the keys.
    """

    def collect(self):
        family = GaugeMetricFamily(
            "idp_signing_key_age_seconds", "Age of the newest unretired signing key, per algorithm.", labels=["algorithm"]
        )
        newest = select(SigningKey.algorithm, func.max(SigningKey.created_at)).where(SigningKey.retired_at.is_(None))
        try:
            rows = db.session.execute(newest.group_by(SigningKey.algorithm)).all()
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.warning("metrics: signing keys not read (%s)", type(exc).__name__)
            count(DEPENDENCY_ERRORS, dependency="database")
            return
        now = utcnow()
        for algorithm, created_at in rows:
            family.add_metric([algorithm], (now - created_at).total_seconds())
        yield family


def _authorized() -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = current_app.config["METRICS_TOKEN"]
    # Bytes: compare_digest refuses non-ASCII str, and a client may send any header value.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


@limiter.exempt
@csrf.exempt
def metrics() -> Response:
    if not _authorized():
        response = Response("Bearer token required.\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    else:
        body, content_type = exposition([SigningKeyAges()])
        response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_metrics(app: Flask) -> None:
    """Count every request; serve /metrics when IDP_METRICS_TOKEN is set (module docstring)."""
    # First of the before-request hooks, so a request refused by a later one (too large, rate limited) is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.after_request(_count_request)
    if app.config.get("METRICS_TOKEN"):
        app.add_url_rule("/metrics", METRICS_ENDPOINT, metrics, methods=["GET"])
