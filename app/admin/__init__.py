"""The operator's console (built in the admin issue)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
