"""Sign-up, sign-in, sign-out, email verification and password reset."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
