"""Probes for process managers and load balancers: /healthz (alive) and /readyz (ready for traffic).

/healthz answers 200 whenever the process can answer at all: it checks no dependency, because a
liveness probe that failed during a database outage would have an orchestrator restart every
instance, which cures nothing and drops the requests they were serving. /readyz asks the database
and Redis (when one is configured) and names what is down in its 503, so a load balancer stops
sending traffic to an instance that can't serve it and an operator sees why. Both are exempt from
rate limits and never cached.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.core.deny_list import redis_answers
from app.extensions import db, limiter

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("health check failed: %s", type(exc).__name__)
        return False
    return True


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():
    """200 when the database (and Redis, when configured) answer; 503 naming each part that does not."""
    redis_state = redis_answers()
    checks = {
        "database": "ok" if _database_answers() else "error",
        "redis": "not configured" if redis_state is None else "ok" if redis_state else "error",
    }
    if "error" in checks.values():
        log.warning("not ready: %s", ", ".join(name for name, state in checks.items() if state == "error"))
        response = jsonify(status="unavailable", **checks)
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return jsonify(status="ready", **checks)
