"""Prometheus metrics: every `idp_*` family, the cheap calls that move them, and the text a scrape returns.

Foundation layer: prometheus_client and the standard library only, so any layer may count an event at the
point where it is decided. Labels come only from small fixed sets (route patterns, methods, status codes,
results, factor kinds, grant types): never an email, a user or client id, an address or a token.

Under gunicorn, `gunicorn.conf.py` sets PROMETHEUS_MULTIPROC_DIR before any worker imports prometheus_client:
each worker then keeps its values in its own files there, and a scrape, answered by any one worker, merges
every worker's files (MultiProcessCollector). Without it (flask run, tests) values live in this process.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

REGISTRY = CollectorRegistry()
# 1 ms to 10 s: a cached discovery answer is well under a millisecond, an argon2 sign-in tens of ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Anything else a client sends as a method becomes "other": a label value must come from a fixed set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "idp_http_requests", "HTTP requests answered, by route pattern, method and status.", ["route", "method", "status"],
    registry=REGISTRY,
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "idp_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
SIGN_INS = Counter(
    "idp_sign_ins", "First-factor sign-in attempts, by factor and result.", ["factor", "result"], registry=REGISTRY
)
MFA_CHALLENGES = Counter(
    "idp_mfa_challenges", "Second-factor proofs, by factor and result.", ["factor", "result"], registry=REGISTRY
)
LOCKOUTS = Counter("idp_lockouts", "Accounts locked after failed proofs, by the failing proof.", ["reason"], registry=REGISTRY)
TOKENS_ISSUED = Counter(
    "idp_tokens_issued", "Token responses, by grant type and client type.", ["grant_type", "client_type"], registry=REGISTRY
)
INTROSPECTIONS = Counter("idp_token_introspections", "Introspection answers, by result.", ["result"], registry=REGISTRY)
REVOCATIONS = Counter("idp_token_revocations", "Tokens revoked at the revocation endpoint.", ["token_type"], registry=REGISTRY)
REPLAYS = Counter("idp_token_replays", "Reuse of a spent refresh token or code, detected.", ["token_type"], registry=REGISTRY)
RATE_LIMITED = Counter("idp_rate_limited", "Requests refused by a rate limit, by route pattern.", ["route"], registry=REGISTRY)
MAIL_SENDS = Counter("idp_mail_sends", "Emails handed to the SMTP server, by result.", ["result"], registry=REGISTRY)
SMS_SENDS = Counter("idp_sms_sends", "Text messages handed to the SMS sender, by result.", ["result"], registry=REGISTRY)
DEPENDENCY_ERRORS = Counter(
    "idp_dependency_errors", "Requests that met an unreachable database or Redis.", ["dependency"], registry=REGISTRY
)
# "max": one series for the whole server, not one per worker (a gauge may not carry a pid label here).
BUILD_INFO = Gauge(
    "idp_build_info", "Always 1; the labels describe the running server.", ["python_version"],
    multiprocess_mode="max", registry=REGISTRY,
)  # fmt: skip


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


if multiprocess_dir():
    # A process started with the variable (a `flask` command beside the server, say) before the server made
    # the directory would otherwise fail at its first value; gunicorn.conf.py empties it at server start.
    os.makedirs(multiprocess_dir(), exist_ok=True)
BUILD_INFO.labels(python_version=platform.python_version()).set(1)

# What a correct first proof led to, by the session's SignInStage (None: signed in).
_SIGN_IN_RESULTS = {None: "success", "mfa": "mfa_required", "enrol": "enrolment_required"}
# Children by label values: one dictionary lookup per request instead of .labels()'s validation and lock.
_request_children: dict[tuple[str, str, int], tuple] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One finished request: a counter increment and a histogram observation."""
    method = method if method in KNOWN_METHODS else "other"
    key = (route, method, status)
    children = _request_children.get(key)
    if children is None:
        children = (HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route, method))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def count(counter: Counter, **labels: str) -> None:
    """Add one to a family's series; the call sites name their labels, which must come from fixed sets."""
    (counter.labels(**labels) if labels else counter).inc()


def count_sign_in(factor: str, pending: str | None) -> None:
    """A correct first proof: signed in, or a second factor (or its enrolment) still owed (SignInStage)."""
    SIGN_INS.labels(factor=factor, result=_SIGN_IN_RESULTS.get(pending, "other")).inc()


def count_token_issued(grant_type: str, *, confidential: bool) -> None:
    TOKENS_ISSUED.labels(grant_type=grant_type, client_type="confidential" if confidential else "public").inc()


@contextmanager
def counting_sends(counter: Counter) -> Iterator[None]:
    """Count a send as "sent", or as "failed" when it raises (the exception goes on)."""
    try:
        yield
    except Exception:
        counter.labels(result="failed").inc()
        raise
    counter.labels(result="sent").inc()


class _Scrape:
    """What one scrape reads: every worker's files (or this process's registry), then the scrape-time collectors."""

    def __init__(self, collectors: Iterable[object]) -> None:
        stored = MultiProcessCollector(None) if multiprocess_dir() else REGISTRY
        self.sources = [stored, *collectors]

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def exposition(collectors: Iterable[object] = ()) -> tuple[bytes, str]:
    """The text format of every family, and its content type. `collectors` add families computed now."""
    return generate_latest(_Scrape(collectors)), CONTENT_TYPE_LATEST
