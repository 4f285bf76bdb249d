"""OAuth 2.1 and OpenID Connect endpoints (built in the OAuth issue)."""

from flask import Blueprint

bp = Blueprint("oauth", __name__, url_prefix="/oauth")
