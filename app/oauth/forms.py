"""The consent form: CSRF token plus the person's decision."""

from flask_wtf import FlaskForm
from wtforms import HiddenField


class ConsentForm(FlaskForm):
    decision = HiddenField()
