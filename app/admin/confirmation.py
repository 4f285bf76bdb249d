"""The confirmation every destructive console action goes through: a page saying what will happen, then its button.

The button's form carries ``confirmed=yes`` besides its CSRF token, so a bare POST (a form replayed from
another page, a script that skipped the page) changes nothing and is answered with the page instead.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf


class ConfirmActionForm(FlaskForm):
    """The confirm page's button: a destructive action needs it, so a bare POST changes nothing."""

    confirmed = HiddenField(validators=[AnyOf(["yes"])])  # no default: a missing field must fail
