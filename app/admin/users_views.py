"""The console's users pages: the list, one person's page, the actions on their account, and invitations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, ValidationError

from app.admin import bp
from app.admin import users as service
from app.admin.confirmation import ConfirmActionForm, confirm
from app.admin.rbac_pages import unassign_confirmed
from app.admin.sorting import sort_context
from app.core import rbac
from app.core.providers import find_provider
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import Role, User
from app.web.forms import ConfirmForm, EmailMixin
from app.web.notices import send_invitation, send_password_reset, send_sign_in_method_notice
from app.web.numbers import bounded_int
from app.web.views import request_origin, see_other


class InviteUserForm(EmailMixin, FlaskForm):
    display_name = StringField(lazy_gettext("Name (optional)"), validators=[Length(max=100)])
    is_admin = BooleanField(lazy_gettext("Administrator (can use this console)"))

    def validate_display_name(self, field) -> None:
        if any(ord(ch) < 32 for ch in field.data or ""):
            raise ValidationError(gettext("Use letters, spaces and punctuation only."))


@dataclass(frozen=True)
class Action:
    """Texts are lazy translations, read in the operator's language when shown."""

    label: object
    run: Callable[..., object]
    done: object
    # Set for destructive actions: they go through a confirm page that says this.
    warning: object | None = None


ACTIONS = {
    "disable": Action(
        lazy_gettext("Disable the account"),
        service.disable_user,
        lazy_gettext("The account is disabled; its sessions and app access have ended."),
        lazy_gettext("The person is signed out everywhere, every app loses its access, and they cannot sign in until enabled."),
    ),
    "enable": Action(lazy_gettext("Enable the account"), service.enable_user, lazy_gettext("The account is enabled.")),
    "unlock": Action(lazy_gettext("Unlock sign-in"), service.unlock_user, lazy_gettext("Sign-in is unlocked.")),
    "verify-email": Action(
        lazy_gettext("Mark email verified"), service.mark_email_verified, lazy_gettext("The email address is marked verified.")
    ),
    "send-reset": Action(
        lazy_gettext("Send a password reset link"),
        service.start_password_reset,
        lazy_gettext("A password reset link was sent."),
    ),
    "reset-mfa": Action(
        lazy_gettext("Reset MFA"),
        service.reset_mfa,
        lazy_gettext("Every second factor and recovery code was removed, and the person's sessions ended."),
        lazy_gettext(
            "Every authenticator app, security key, passkey, phone number and recovery code of this person is "
            "deleted and their sessions end. Do this only once you are sure who asked."
        ),
    ),
    "end-sessions": Action(
        lazy_gettext("End all sessions"),
        service.end_user_sessions,
        lazy_gettext("Every session of the account has ended."),
        lazy_gettext("Every browser signed in to this account is signed out."),
    ),
    "revoke-tokens": Action(
        lazy_gettext("Revoke all app tokens"),
        service.revoke_tokens,
        lazy_gettext("Every app's tokens for the account were revoked."),
        lazy_gettext("Every connected app loses its access to this account until the person signs in through it again."),
    ),
}


def _load_user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return bounded_int(raw, high=999_999_999) or 0  # 0: no such page, so 404 (also "-1", "1.5", "²")


@bp.get("/users/")
def users():
    search = request.args.get("q", "")[:254]
    filters = set(request.args.getlist("filter")) & service.FILTERS.keys()
    sort = service.USER_SORTS.parse(request.args.get("sort"))
    page = service.search_users(search, filters, _page_number(), sort=sort)
    if page is None:
        abort(404)
    context = sort_context(service.USER_SORTS, sort)
    return render_template("admin/users.html", page=page, search=search, filters=filters, choices=service.FILTERS, **context)


# The user's page groups the actions by what they touch, the destructive ones (each with a confirm page) last.
ACTION_GROUPS = (
    ("account", lazy_gettext("Account"), ("enable", "verify-email")),
    ("security", lazy_gettext("Sign-in"), ("unlock", "send-reset")),
    ("danger", lazy_gettext("Ends access (asks first)"), ("disable", "reset-mfa", "end-sessions", "revoke-tokens")),
)


def _render_user(user: User, error: str | None = None, status: int = 200):
    detail = service.user_detail(user, current=current_user.session)
    page = render_template(
        "admin/user.html",
        detail=detail,
        actions=ACTIONS,
        action_groups=ACTION_GROUPS,
        error=error,
        role_form=_give_role_form(user),
    )
    return page, status


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    return _render_user(_load_user(user_id))


@bp.route("/users/<int:user_id>/<action_name>", methods=["GET", "POST"])
def user_action(user_id: int, action_name: str):
    target, action = _load_user(user_id), ACTIONS.get(action_name) or abort(404)
    if request.method == "GET":
        if action.warning is None:
            abort(404)  # only destructive actions have a confirm page
        return render_template("admin/user_confirm.html", user=target, action=action, name=action_name, form=ConfirmActionForm())
    form = ConfirmActionForm() if action.warning else ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        result = action.run(target, actor=current_user.user, origin=request_origin(), keep=current_user.session)
    except service.ActionRefused as refused:
        db.session.rollback()
        return _render_user(target, error=str(refused), status=400)
    db.session.commit()
    if action_name == "send-reset":
        send_password_reset(target, result)  # after the commit: the link must work when it arrives
    flash(str(action.done), "success")
    return see_other(url_for("admin.user", user_id=target.id))


class GiveRoleForm(FlaskForm):
    role_id = SelectField(lazy_gettext("Role"), coerce=int)


def _give_role_form(user: User) -> GiveRoleForm:
    form = GiveRoleForm()
    form.role_id.choices = [(role.id, role.name) for role in rbac.roles_not_held(user)]
    return form


@bp.post("/users/<int:user_id>/roles")
def user_role_add(user_id: int):
    """Give the person a role from their own page (the role's page does the same by address)."""
    target = _load_user(user_id)
    form = _give_role_form(target)
    if not form.validate_on_submit():
        abort(400)  # a missing token, or a role that is unknown or already held
    role = db.session.get(Role, form.role_id.data) or abort(404)
    rbac.assign_role(role, target, actor=current_user.user, origin=request_origin())
    db.session.commit()
    flash(gettext("%(email)s now has the role “%(role)s”.", email=target.email, role=role.name), "success")
    return see_other(url_for("admin.user", user_id=target.id))


@bp.route("/users/<int:user_id>/roles/<int:role_id>/remove", methods=["GET", "POST"])
def user_role_remove(user_id: int, role_id: int):
    target, role = _load_user(user_id), db.session.get(Role, role_id) or abort(404)
    return unassign_confirmed(role, target, url_for("admin.user", user_id=target.id))


@bp.route("/users/<int:user_id>/links/<int:link_id>/unlink", methods=["GET", "POST"])
def user_unlink(user_id: int, link_id: int):
    target = _load_user(user_id)
    link = service.linked_identity_of(target, link_id) or abort(404)  # another person's link, or none
    provider = find_provider(link.provider)
    name, account = (provider.display_name if provider else link.provider), link.username or link.email
    text = gettext(
        "Unlink the %(provider)s account %(account)s from %(email)s? It no longer signs them in; "
        "if it was their only way in, send them a password reset link next.",
        provider=name,
        account=account,
        email=target.email,
    )
    page = confirm(gettext("Unlink account"), text, url_for("admin.user", user_id=target.id))
    if page is not None:
        return page
    service.unlink_identity_for(target, link.id, actor=current_user.user, origin=request_origin())
    db.session.commit()
    send_sign_in_method_notice(target, name, "unlinked")
    flash(
        gettext(
            "The %(provider)s account %(account)s is unlinked. If it was the only way in, send a password reset link.",
            provider=name,
            account=account,
        ),
        "success",
    )
    return see_other(url_for("admin.user", user_id=target.id))


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = InviteUserForm()
    if not form.validate_on_submit():
        return render_template("admin/user_new.html", form=form), 400 if request.method == "POST" else 200
    try:
        invited, token = service.invite_user(
            form.email.data, form.display_name.data or "", form.is_admin.data, actor=current_user.user, origin=request_origin()
        )
    except service.ActionRefused as refused:
        db.session.rollback()
        form.email.errors.append(str(refused))
        return render_template("admin/user_new.html", form=form), 400
    db.session.commit()
    send_invitation(invited, token)  # the reset link lets them choose their first password
    flash(gettext("%(email)s was invited: they received a link to choose a password.", email=invited.email), "success")
    return see_other(url_for("admin.user", user_id=invited.id))
