"""The operator's console: users, clients, roles and groups, audit log, sessions, signing keys."""

from flask import Blueprint

from app.admin.guard import guard_console

bp = Blueprint("admin", __name__, url_prefix="/admin")
# One check before every console route, so no route can forget it (app.admin.guard).
bp.before_request(guard_console)
