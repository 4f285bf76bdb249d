"""OAuth 2.1 and OpenID Connect: protocol endpoints, discovery, JWKS, and the consent page."""

from flask import Blueprint

bp = Blueprint("oauth", __name__)
