"""Flask-WTF forms for roles, groups and custom scopes; the naming rules themselves live in app.core.rbac."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.core.rbac import DESCRIPTION_MAX, NAME_MAX
from app.core.text import lazy_gettext
from app.web.forms import EMAIL_MAX


class NamedForm(FlaskForm):
    """Create or edit a role, group or scope: a name and what it is for."""

    name = StringField(lazy_gettext("Name"), validators=[DataRequired(lazy_gettext("Enter a name.")), Length(max=NAME_MAX)])
    description = StringField(lazy_gettext("Description"), validators=[Length(max=DESCRIPTION_MAX)])


class PersonForm(FlaskForm):
    """Pick a person by the email address they sign in with."""

    email = EmailField(
        lazy_gettext("Email address"), validators=[DataRequired(lazy_gettext("Enter an email address.")), Length(max=EMAIL_MAX)]
    )


class GroupRoleForm(FlaskForm):
    role_id = SelectField(lazy_gettext("Role"), coerce=int, validate_choice=True)

    def __init__(self, *args: object, roles: list | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role_id.choices = [(role.id, role.name) for role in roles or []]
