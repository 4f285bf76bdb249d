"""Second factors: the challenge and security pages, and each factor's enrolment and challenge."""

from flask import Blueprint

bp = Blueprint("mfa", __name__, url_prefix="/mfa")
