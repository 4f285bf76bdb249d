"""Every destructive console action asks first: its page has a danger button, and a POST that skipped the page changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.core import rbac
from app.core.audit import Origin
from app.extensions import db
from app.models import AuditEvent, SigningKey
from tests.conftest import csrf_from
from tests.integration.oauth.conftest import create_oauth_client  # noqa: F401  (fixture used by name)

CLI = Origin(user_agent="test")
DANGER_BUTTON = re.compile(r'<button type="submit" class="button danger">')


@pytest.fixture
def targets(app, admin, create_user, create_oauth_client):  # noqa: F811
    """One of everything a destructive action can remove, keyed by what the paths need."""
    client, _ = create_oauth_client(name="Reports")
    person = create_user(email="ada@example.com", is_admin=True)
    role = rbac.create_role("billing:read", "", actor=admin, origin=CLI)
    group = rbac.create_group("finance", "", actor=admin, origin=CLI)
    scope = rbac.create_scope("invoices:read", "Read invoices", actor=admin, origin=CLI)
    db.session.commit()
    return {"client": client.client_id, "user": person.id, "role": role.id, "group": group.id, "scope": scope.id}


DESTRUCTIVE = [
    "/admin/clients/{client}/rotate-secret",
    "/admin/clients/{client}/disable",
    "/admin/clients/{client}/delete",
    "/admin/users/{user}/disable",
    "/admin/users/{user}/reset-mfa",
    "/admin/users/{user}/end-sessions",
    "/admin/users/{user}/revoke-tokens",
    "/admin/roles/{role}/delete",
    "/admin/groups/{group}/delete",
    "/admin/scopes/{scope}/delete",
    "/admin/admins/{user}/revoke",
    "/admin/keys/rotate",
]


def trail() -> list[tuple[str, object]]:
    """What a refused action must leave as it was: the audit trail and the signing keys."""
    events = [e.event_type for e in db.session.scalars(select(AuditEvent)) if e.event_type.startswith("admin.")]
    return [*events, len(db.session.scalars(select(SigningKey)).all())]


@pytest.mark.parametrize("template", DESTRUCTIVE)
def test_a_destructive_action_asks_first_and_a_post_without_the_answer_changes_nothing(console, targets, template):
    path = template.format(**targets)
    page = console.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert DANGER_BUTTON.search(html) and 'id="confirmed" name="confirmed" type="hidden" value="yes"' in html
    before = trail()

    refused = console.post(path, data={"csrf_token": csrf_from(html)})  # CSRF-valid, but the page's button not pressed

    assert refused.status_code == 400
    assert trail() == before


def test_the_user_page_groups_its_actions_and_styles_the_destructive_ones(console, targets):
    user_id = targets["user"]
    html = console.get(f"/admin/users/{user_id}").get_data(as_text=True)

    for heading in ("Account", "Sign-in", "Ends access (asks first)"):
        assert re.search(rf'<h3 id="actions-\w+">{re.escape(heading)}</h3>', html)
    danger = html[html.index('id="actions-danger-group"') :]
    danger = danger[: danger.index("</div>")]
    for name in ("disable", "reset-mfa", "end-sessions", "revoke-tokens"):
        assert f'<a class="button danger" href="/admin/users/{user_id}/{name}">' in danger
    assert "unlock" not in danger and "send-reset" not in danger
