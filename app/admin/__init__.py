"""The operator's console: users, clients, roles and groups, audit log, sessions, signing keys."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _only_admins_with_recent_mfa():
    from app.admin.guard import guard_console

    return guard_console()
