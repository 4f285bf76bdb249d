"""The signed-in person's own pages."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")
