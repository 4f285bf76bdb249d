"""The confirmation every destructive console action goes through: a page saying what will happen, then its button.

The button's form carries ``confirmed=yes`` besides its CSRF token, so a bare POST (a form replayed from
another page, a script that skipped the page) changes nothing and is answered with the page instead.
"""

from __future__ import annotations

from flask import render_template, request
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf


class ConfirmActionForm(FlaskForm):
    """The confirm page's button: a destructive action needs it, so a bare POST changes nothing."""

    confirmed = HiddenField(validators=[AnyOf(["yes"])])  # no default: a missing field must fail


def confirm(title: str, text: str, cancel: str):
    """The confirm page, or None once its button was pressed; a POST that skipped the page gets it back with a 400.

    The page posts to its own address, so a route answers GET and POST and acts only when this returns None.
    """
    if not ConfirmActionForm().validate_on_submit():
        page = render_template("admin/confirm.html", form=ConfirmActionForm(), title=title, text=text, cancel=cancel)
        return page, 400 if request.method == "POST" else 200
    return None
