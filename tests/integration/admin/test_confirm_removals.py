"""The console's removals ask first: ending one session, taking a role, removing a member or a group's role, unlinking.

Each has a page saying what will happen with a danger button; a POST that skipped it (CSRF-valid, no
``confirmed=yes``) gets the page back with a 400 and changes nothing; the button does it, audited.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app.core import rbac
from app.core.audit import Origin
from app.extensions import db
from app.models import AuditEvent, LinkedIdentity, User, UserSession
from app.models.rbac import Group, Role
from tests.conftest import csrf_from
from tests.integration.account.test_sessions_page import SAFARI_IPHONE, session_of, signed_in

CLI = Origin(user_agent="test")


@dataclass(frozen=True)
class Setup:
    """Ada with a role of her own, in a group that grants the same role, a linked account and a live session."""

    ada: int
    role: int
    group: int
    link: int
    session: str


@pytest.fixture
def setup(app, admin, console, create_user) -> Setup:
    ada = create_user(email="ada@example.com")
    browser = signed_in(app, ada, SAFARI_IPHONE)
    role = rbac.create_role("billing:read", "", actor=admin, origin=CLI)
    group = rbac.create_group("finance", "", actor=admin, origin=CLI)
    rbac.assign_role(role, ada, actor=admin, origin=CLI)
    rbac.add_member(group, ada, actor=admin, origin=CLI)
    rbac.add_group_role(group, role, actor=admin, origin=CLI)
    link = LinkedIdentity(user_id=ada.id, provider="github", subject="7", email="ada@gh.example", username="ada-gh")
    db.session.add(link)
    db.session.commit()
    return Setup(ada.id, role.id, group.id, link.id, session_of(browser).id)


def state(s: Setup) -> dict[str, bool]:
    """What each removal takes away: all True before."""
    db.session.expire_all()
    ada, role, group = db.session.get(User, s.ada), db.session.get(Role, s.role), db.session.get(Group, s.group)
    return {
        "session": db.session.get(UserSession, s.session).revoked_at is None,
        "own role": ada in role.users,
        "member": ada in group.members,
        "group role": role in group.roles,
        "link": db.session.get(LinkedIdentity, s.link) is not None,
    }


def events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


# (path, what it takes away, words the page must say, its audit event, where the button leads)
CASES = {
    "end a session": (
        "/admin/sessions/{session}/end",
        "session",
        "End the session of ada@example.com on Mobile Safari 17 on iOS 17.4? That browser is signed out",
        "admin.session_ended",
        "/admin/sessions",
    ),
    "take a role on the person's page": (
        "/admin/users/{ada}/roles/{role}/remove",
        "own role",
        "Take the role “billing:read” from ada@example.com? They keep it only if one of their groups grants it.",
        "admin.role_unassigned",
        "/admin/users/{ada}",
    ),
    "take a role on the role's page": (
        "/admin/roles/{role}/users/{ada}/remove",
        "own role",
        "Take the role “billing:read” from ada@example.com?",
        "admin.role_unassigned",
        "/admin/roles/{role}",
    ),
    "remove a group member": (
        "/admin/groups/{group}/members/{ada}/remove",
        "member",
        "Remove ada@example.com from the group “finance”? They lose the roles they hold only through it.",
        "admin.group_member_removed",
        "/admin/groups/{group}",
    ),
    "remove a group's role": (
        "/admin/groups/{group}/roles/{role}/remove",
        "group role",
        "Stop granting the role “billing:read” to the members of “finance”?",
        "admin.group_role_removed",
        "/admin/groups/{group}",
    ),
    "unlink an account": (
        "/admin/users/{ada}/links/{link}/unlink",
        "link",
        "Unlink the github account ada-gh from ada@example.com? It no longer signs them in",
        "admin.identity_unlinked",
        "/admin/users/{ada}",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_removal_asks_first_and_only_the_confirm_button_does_it(console, setup, case):
    template, takes, words, event_type, back = case
    path, back = template.format(**vars(setup)), back.format(**vars(setup))
    before = state(setup)
    assert all(before.values())

    page = console.get(path)
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert words in text and '<button type="submit" class="button danger">' in text
    assert 'id="confirmed" name="confirmed" type="hidden" value="yes"' in text and f'<a href="{back}">Cancel</a>' in text

    bare = console.post(path, data={"csrf_token": csrf_from(text)})  # CSRF-valid, the button not pressed
    assert bare.status_code == 400 and words in html.unescape(bare.get_data(as_text=True))
    assert state(setup) == before and events(event_type) == []

    done = console.post(path, data={"csrf_token": csrf_from(text), "confirmed": "yes"})
    assert done.status_code == 303 and done.headers["Location"] == back
    assert state(setup) == {**before, takes: False}
    assert len(events(event_type)) == 1


def test_the_pages_link_each_removal_to_its_confirm_page(console, setup):
    s = setup
    pages = {
        "/admin/sessions": f"/admin/sessions/{s.session}/end",
        f"/admin/users/{s.ada}": f"/admin/users/{s.ada}/roles/{s.role}/remove",
        f"/admin/roles/{s.role}": f"/admin/roles/{s.role}/users/{s.ada}/remove",
        f"/admin/groups/{s.group}": f"/admin/groups/{s.group}/members/{s.ada}/remove",
    }
    pages[f"/admin/groups/{s.group}#roles"] = f"/admin/groups/{s.group}/roles/{s.role}/remove"
    pages[f"/admin/users/{s.ada}#links"] = f"/admin/users/{s.ada}/links/{s.link}/unlink"
    for page, target in pages.items():
        text = console.get(page.split("#")[0]).get_data(as_text=True)
        assert f'<a class="button danger" href="{target}"' in text, target
        assert f'action="{target}"' not in text, target  # no form acts at once


def test_ending_your_own_session_says_it_signs_you_out(console, admin):
    own = db.session.scalar(select(UserSession).where(UserSession.user_id == admin.id, UserSession.revoked_at.is_(None)))
    text = console.get(f"/admin/sessions/{own.id}/end").get_data(as_text=True)
    assert "This is your own session here: you will be signed out of the console." in text
