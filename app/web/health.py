"""/healthz: is this process able to serve? It checks the database with one cheap query."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("health check failed: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="error"), 503
    return jsonify(status="ok", database="ok")
