"""Roles, groups, the built-in admin role and custom scopes in the console: access, each action, bad input, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core import rbac
from app.core.audit import Origin
from app.core.scopes import describe_scope
from app.extensions import db
from app.models import AuditEvent, User, UserSession
from app.models.base import utcnow
from app.models.rbac import CustomScope, Group, Role
from tests.conftest import AuthActions, csrf_from

CLI = Origin(user_agent="test")


# --- fixtures (the admin and their `console` come from conftest.py) ---


@pytest.fixture
def ada(create_user):
    return create_user(email="ada@example.com")


@pytest.fixture
def role(admin):
    made = rbac.create_role("billing:read", "Reads invoices", actor=admin, origin=CLI)
    db.session.commit()
    return made


@pytest.fixture
def group(admin):
    made = rbac.create_group("finance", "The finance team", actor=admin, origin=CLI)
    db.session.commit()
    return made


# The confirm page's button: without it a destructive POST only gets the page back (app/admin/confirmation.py).
CONFIRMED = {"confirmed": "yes"}


def post(console: FlaskClient, path: str, data: dict | None = None, *, page: str = "/admin/roles", prefix: str = ""):
    token = csrf_from(console.get(page).get_data(as_text=True))
    return console.post(path, data={**(data or {}), f"{prefix}csrf_token": token})


def events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


def fresh(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


# --- authorization: every route, three kinds of visitor ---


def routes(role: Role, group: Group, scope: CustomScope, user: User) -> list[tuple[str, str]]:
    r, g, s, u = role.id, group.id, scope.id, user.id
    return [
        ("GET", "/admin/roles"),
        ("POST", "/admin/roles/new"),
        ("POST", "/admin/groups/new"),
        ("POST", "/admin/scopes/new"),
        ("GET", f"/admin/scopes/{s}/delete"),
        ("POST", f"/admin/scopes/{s}/delete"),
        ("POST", "/admin/admins"),
        ("GET", f"/admin/admins/{u}/revoke"),
        ("POST", f"/admin/admins/{u}/revoke"),
        ("GET", f"/admin/roles/{r}"),
        ("POST", f"/admin/roles/{r}/edit"),
        ("GET", f"/admin/roles/{r}/delete"),
        ("POST", f"/admin/roles/{r}/delete"),
        ("POST", f"/admin/roles/{r}/users"),
        ("GET", f"/admin/roles/{r}/users/{u}/remove"),
        ("POST", f"/admin/roles/{r}/users/{u}/remove"),
        ("GET", f"/admin/groups/{g}"),
        ("POST", f"/admin/groups/{g}/edit"),
        ("GET", f"/admin/groups/{g}/delete"),
        ("POST", f"/admin/groups/{g}/delete"),
        ("POST", f"/admin/groups/{g}/members"),
        ("GET", f"/admin/groups/{g}/members/{u}/remove"),
        ("POST", f"/admin/groups/{g}/members/{u}/remove"),
        ("POST", f"/admin/groups/{g}/roles"),
        ("GET", f"/admin/groups/{g}/roles/{r}/remove"),
        ("POST", f"/admin/groups/{g}/roles/{r}/remove"),
    ]


@pytest.fixture
def everything(admin, role, group, ada):
    scope = rbac.create_scope("invoices:read", "Read your invoices", actor=admin, origin=CLI)
    rbac.assign_role(role, ada, actor=admin, origin=CLI)
    rbac.add_member(group, ada, actor=admin, origin=CLI)
    db.session.commit()
    return routes(role, group, scope, admin)


def attempt(client: FlaskClient, method: str, path: str, token_page: str):
    if method == "GET":
        return client.get(path)
    token = csrf_from(client.get(token_page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, "name": "x", "email": "ada@example.com", "role_id": "1"})


def assert_nothing_changed(role: Role, group: Group) -> None:
    db.session.expire_all()
    assert [r.name for r in rbac.list_roles()] == [role.name] and [g.name for g in rbac.list_groups()] == [group.name]
    assert len(rbac.list_admins()) == 1 and len(rbac.list_scopes()) == 1


def test_anonymous_visitors_are_sent_to_sign_in(app, everything, role, group, subtests):
    client = app.test_client()
    for method, path in everything:
        with subtests.test(method=method, path=path):
            response = attempt(client, method, path, "/login")
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/login")
    assert_nothing_changed(role, group)


def test_signed_in_people_who_are_not_admins_get_403_and_no_data(app, everything, role, group, ada, subtests):
    client = app.test_client()
    AuthActions(client).login(ada.email)
    for method, path in everything:
        with subtests.test(method=method, path=path):
            response = attempt(client, method, path, "/account/")
            assert response.status_code == 403
            assert "billing:read" not in response.get_data(as_text=True)
    assert_nothing_changed(role, group)


def test_admins_without_a_recent_second_factor_must_pass_the_challenge(app, everything, console, admin, role, group, subtests):
    too_old = utcnow() - timedelta(seconds=app.config["ADMIN_MFA_MAX_AGE_SECONDS"] + 60)
    for row in db.session.scalars(select(UserSession).where(UserSession.user_id == admin.id)):
        row.auth_time = too_old
    db.session.commit()
    for method, path in everything:
        with subtests.test(method=method, path=path):
            response = attempt(console, method, path, "/account/")
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/mfa/challenge")
    assert_nothing_changed(role, group)


# --- roles ---


def test_an_admin_creates_a_role_and_the_change_is_audited(console, admin):
    response = post(console, "/admin/roles/new", {"role-name": "support", "role-description": "Help desk"}, prefix="role-")

    created = db.session.scalar(select(Role).where(Role.name == "support"))
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/roles/{created.id}"
    assert created.description == "Help desk"
    [event] = events("admin.role_created")
    assert event.actor_user_id == admin.id and event.details == {"role": "support"}
    assert 'data-role="support"' in console.get("/admin/roles").get_data(as_text=True)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("billing:read", "already taken"),
        ("admin", "built-in"),
        ("Support", "lowercase"),
        ("two words", "lowercase"),
        ("x" * 65, "64"),
        ("", "Enter a name"),
    ],
)
def test_a_bad_role_name_is_refused_with_400_and_nothing_is_created(console, role, name, problem):
    response = post(console, "/admin/roles/new", {"role-name": name}, prefix="role-")

    assert response.status_code == 400
    assert problem in response.get_data(as_text=True)
    assert [r.name for r in rbac.list_roles()] == ["billing:read"] and not events("admin.role_created")[1:]


def test_a_post_without_its_csrf_token_is_refused(console, role, ada):
    for path, data in [
        ("/admin/roles/new", {"role-name": "support"}),
        (f"/admin/roles/{role.id}/users", {"email": ada.email}),
        (f"/admin/roles/{role.id}/delete", {}),
    ]:
        assert console.post(path, data=data).status_code == 400
    assert [r.name for r in rbac.list_roles()] == ["billing:read"] and not role.users


def test_an_admin_edits_a_role(console, role):
    page = f"/admin/roles/{role.id}"
    response = post(console, f"/admin/roles/{role.id}/edit", {"name": "billing:write", "description": "Pays"}, page=page)

    assert response.status_code == 303
    assert (fresh(Role, role.id).name, fresh(Role, role.id).description) == ("billing:write", "Pays")
    assert events("admin.role_updated")[0].details == {"role": "billing:write", "previous_name": "billing:read"}


def test_renaming_a_role_to_a_taken_or_reserved_name_changes_nothing(console, admin, role):
    other = rbac.create_role("support", "", actor=admin, origin=CLI)
    db.session.commit()
    for name in ("support", "admin"):
        page = f"/admin/roles/{role.id}"
        response = post(console, f"/admin/roles/{role.id}/edit", {"name": name, "description": "x"}, page=page)
        assert response.status_code == 400
    assert fresh(Role, role.id).name == "billing:read" and fresh(Role, other.id).name == "support"


def test_deleting_a_role_asks_for_confirmation_first(console, role):
    confirm = console.get(f"/admin/roles/{role.id}/delete")
    assert confirm.status_code == 200 and "Delete role" in confirm.get_data(as_text=True)
    assert fresh(Role, role.id) is not None

    response = post(console, f"/admin/roles/{role.id}/delete", CONFIRMED, page=f"/admin/roles/{role.id}/delete")

    assert response.status_code == 303 and fresh(Role, role.id) is None
    assert events("admin.role_deleted")[0].details == {"role": "billing:read"}


def test_unknown_ids_are_404(console, role, group, ada):
    for method, path in [
        ("GET", "/admin/roles/999"),
        ("POST", "/admin/roles/999/edit"),
        ("POST", "/admin/roles/999/delete"),
        ("POST", "/admin/roles/999/users"),
        ("POST", f"/admin/roles/{role.id}/users/999/remove"),
        ("GET", "/admin/groups/999"),
        ("POST", "/admin/groups/999/members"),
        ("POST", f"/admin/groups/{group.id}/roles/999/remove"),
        ("POST", "/admin/scopes/999/delete"),
        ("POST", "/admin/admins/999/revoke"),
    ]:
        response = console.get(path) if method == "GET" else post(console, path, {"email": ada.email})
        assert response.status_code == 404, path


def test_an_admin_gives_a_role_to_a_person_by_email_and_takes_it_back(console, admin, role, ada):
    page = f"/admin/roles/{role.id}"
    response = post(console, f"/admin/roles/{role.id}/users", {"email": "ADA@example.com"}, page=page)

    assert response.status_code == 303 and fresh(Role, role.id).users == [ada]
    assert 'data-user="ada@example.com"' in console.get(page).get_data(as_text=True)
    [event] = events("admin.role_assigned")
    assert (event.actor_user_id, event.subject_user_id, event.details) == (admin.id, ada.id, {"role": "billing:read"})

    response = post(console, f"/admin/roles/{role.id}/users/{ada.id}/remove", CONFIRMED, page=page)

    assert response.status_code == 303 and fresh(Role, role.id).users == []
    assert events("admin.role_unassigned")[0].subject_user_id == ada.id


def test_giving_a_role_to_an_unknown_email_is_refused(console, role):
    page = f"/admin/roles/{role.id}"
    response = post(console, f"/admin/roles/{role.id}/users", {"email": "nobody@example.com"}, page=page)

    assert response.status_code == 400 and "No account uses that email address." in response.get_data(as_text=True)
    assert fresh(Role, role.id).users == [] and not events("admin.role_assigned")


# --- groups ---


def test_an_admin_creates_a_group_adds_a_member_and_a_role(console, admin, role, ada):
    response = post(console, "/admin/groups/new", {"group-name": "ops", "group-description": "Ops"}, prefix="group-")
    group = db.session.scalar(select(Group).where(Group.name == "ops"))
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/groups/{group.id}"
    page = f"/admin/groups/{group.id}"

    assert post(console, f"{page}/members", {"email": ada.email}, page=page).status_code == 303
    assert post(console, f"{page}/roles", {"role_id": str(role.id)}, page=page).status_code == 303

    assert rbac.effective_role_names(fresh(User, ada.id)) == ["billing:read"]
    assert rbac.group_names(ada) == ["ops"]
    assert events("admin.group_member_added")[0].subject_user_id == ada.id
    assert events("admin.group_role_added")[0].details == {"group": "ops", "role": "billing:read"}
    assert all(
        e.actor_user_id == admin.id for e in db.session.scalars(select(AuditEvent)) if e.event_type.startswith("admin.group")
    )


def test_removing_a_member_or_a_group_role_takes_the_inherited_role_away(console, admin, role, group, ada):
    rbac.add_member(group, ada, actor=admin, origin=CLI)
    rbac.add_group_role(group, role, actor=admin, origin=CLI)
    db.session.commit()
    page = f"/admin/groups/{group.id}"

    assert post(console, f"{page}/roles/{role.id}/remove", CONFIRMED, page=page).status_code == 303
    assert rbac.effective_role_names(ada) == [] and rbac.group_names(ada) == ["finance"]
    assert post(console, f"{page}/members/{ada.id}/remove", CONFIRMED, page=page).status_code == 303
    assert rbac.group_names(ada) == []
    assert events("admin.group_role_removed") and events("admin.group_member_removed")


def test_bad_group_input_is_refused(console, group, ada):
    page = f"/admin/groups/{group.id}"
    assert post(console, "/admin/groups/new", {"group-name": "finance"}, prefix="group-").status_code == 400
    assert post(console, f"{page}/members", {"email": "nobody@example.com"}, page=page).status_code == 400
    assert post(console, f"{page}/roles", {"role_id": "12345"}, page=page).status_code == 400
    assert post(console, f"{page}/edit", {"name": "Bad Name"}, page=page).status_code == 400
    assert [g.name for g in rbac.list_groups()] == ["finance"] and fresh(Group, group.id).members == []


def test_an_admin_renames_and_deletes_a_group_after_confirming(console, group):
    page = f"/admin/groups/{group.id}"
    assert post(console, f"{page}/edit", {"name": "accounting", "description": ""}, page=page).status_code == 303
    assert fresh(Group, group.id).name == "accounting"
    assert console.get(f"{page}/delete").status_code == 200 and fresh(Group, group.id) is not None

    assert post(console, f"{page}/delete", CONFIRMED, page=f"{page}/delete").status_code == 303
    assert fresh(Group, group.id) is None and events("admin.group_deleted")


# --- the built-in admin role ---


def test_an_admin_makes_someone_an_administrator_and_removes_it_again(console, admin, ada):
    response = post(console, "/admin/admins", {"admin-email": ada.email}, prefix="admin-")
    assert response.status_code == 303 and fresh(User, ada.id).is_admin
    assert 'data-admin="ada@example.com"' in console.get("/admin/roles").get_data(as_text=True)

    page = f"/admin/admins/{ada.id}/revoke"
    assert console.get(page).status_code == 200 and fresh(User, ada.id).is_admin
    assert post(console, page, CONFIRMED, page=page).status_code == 303
    assert not fresh(User, ada.id).is_admin
    assert [e.subject_user_id for e in events("admin.admin_granted") + events("admin.admin_revoked")] == [ada.id, ada.id]


def test_the_last_admin_keeps_the_admin_role(console, admin, create_user):
    create_user(email="gone@example.com", is_admin=True, is_disabled=True)  # a disabled admin can't open the console
    page = f"/admin/admins/{admin.id}/revoke"

    response = post(console, page, CONFIRMED, page=page)

    assert response.status_code == 400 and "last administrator" in response.get_data(as_text=True)
    assert fresh(User, admin.id).is_admin and not events("admin.admin_revoked")


# --- custom scopes ---


def test_an_admin_defines_a_custom_scope_that_consent_pages_describe(console, admin):
    data = {"scope-name": "invoices:read", "scope-description": "Read your invoices"}
    assert post(console, "/admin/scopes/new", data, prefix="scope-").status_code == 303

    assert describe_scope("invoices:read") == "Read your invoices"
    assert events("admin.scope_created")[0].details == {"scope": "invoices:read"}
    scope = db.session.scalar(select(CustomScope))
    page = f"/admin/scopes/{scope.id}/delete"
    assert console.get(page).status_code == 200
    assert post(console, page, CONFIRMED, page=page).status_code == 303
    assert describe_scope("invoices:read") == "Access “invoices:read”" and events("admin.scope_deleted")


@pytest.mark.parametrize("name", ["openid", "roles", 'say"hi', "back\\slash", "two words", "é"])
def test_a_bad_or_built_in_scope_name_is_refused(console, name):
    response = post(console, "/admin/scopes/new", {"scope-name": name, "scope-description": "x"}, prefix="scope-")

    assert response.status_code == 400 and rbac.list_scopes() == []


def test_a_custom_scope_needs_a_description(console):
    response = post(console, "/admin/scopes/new", {"scope-name": "api", "scope-description": ""}, prefix="scope-")

    assert response.status_code == 400 and rbac.list_scopes() == []


def test_a_custom_scope_is_accepted_in_a_clients_scope_list(app, console):
    from app.core.clients import ClientSpec, create_client

    rbac.create_scope("invoices:read", "Read your invoices", actor=None, origin=CLI)
    spec = ClientSpec("Billing", True, ["https://billing.example/cb"], ["authorization_code"], "openid invoices:read")
    client, _ = create_client(spec)
    assert client.get_allowed_scope("openid invoices:read") == "openid invoices:read"
