"""Second factors: enrolment and the sign-in challenge (built in the MFA issue)."""

from flask import Blueprint

bp = Blueprint("mfa", __name__, url_prefix="/mfa")
