"""The console's client forms set, show and clear the back-channel logout URI and its sid flag (OIDC Back-Channel
Logout 2.2); a URI the registration rules refuse is shown next to its field and nothing is stored."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, OAuthClient
from tests.conftest import csrf_from
from tests.integration.oauth.conftest import REDIRECT_URI, create_oauth_client  # noqa: F401 (fixture used by name)

BACKCHANNEL_URI = "https://billing.example/backchannel-logout"
CREATE = {
    "client_type": "confidential",
    "name": "Billing",
    "redirect_uris": "https://billing.example/cb",
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "openid profile",
    "token_endpoint_auth_method": "client_secret_basic",
}
FIELD_ERRORS = re.compile(r'<ul class="errors" id="backchannel_logout_uri-errors">(.*?)</ul>', re.S)
SESSION_BOX = re.compile(r'<input[^>]*id="backchannel_logout_session_required"[^>]*>')


def post_form(console, path: str, data: dict, page: str | None = None):
    token = csrf_from(console.get(page or path).get_data(as_text=True))
    return console.post(path, data={**data, "csrf_token": token})


def row_named(name: str) -> OAuthClient | None:
    db.session.expire_all()
    return db.session.scalar(select(OAuthClient).where(OAuthClient.name == name))


def stored(client_id: str) -> tuple[str | None, bool]:
    db.session.expire_all()
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    return row.backchannel_logout_uri, row.backchannel_logout_session_required


def edit_data(client: OAuthClient, **changes) -> dict:
    data = {
        "name": client.name,
        "redirect_uris": "\n".join(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "backchannel_logout_uri": client.backchannel_logout_uri or "",
    }
    if client.backchannel_logout_session_required:
        data["backchannel_logout_session_required"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def field_error(page: str) -> str:
    """The error list rendered under the back-channel logout URI field, or '' when there is none."""
    found = FIELD_ERRORS.search(page)
    return html.unescape(found.group(1)) if found else ""


# --- create ---


def test_the_create_form_offers_the_fields_in_the_uris_section(console):
    page = console.get("/admin/clients/new").get_data(as_text=True)
    section = page[page.index('id="section-uris"') : page.index('id="section-grants"')]

    assert 'name="backchannel_logout_uri"' in section
    assert 'name="backchannel_logout_session_required"' in section
    assert "back-channel logout endpoint" in html.unescape(section)


def test_creating_a_client_stores_and_shows_both(console):
    data = {**CREATE, "backchannel_logout_uri": BACKCHANNEL_URI, "backchannel_logout_session_required": "y"}

    response = post_form(console, "/admin/clients/new", data)

    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    row = row_named("Billing")
    assert (row.backchannel_logout_uri, row.backchannel_logout_session_required) == (BACKCHANNEL_URI, True)
    page = console.get(f"/admin/clients/{row.client_id}").get_data(as_text=True)
    facts = page[page.index('id="client-backchannel"') :]
    assert facts.index(BACKCHANNEL_URI) < facts.index("</dd>")
    assert "with the session ID (sid)" in facts[: facts.index("</dd>")]
    assert f'value="{BACKCHANNEL_URI}"' in page
    assert "checked" in SESSION_BOX.search(page).group(0)


def test_a_client_created_without_them_has_none(console):
    response = post_form(console, "/admin/clients/new", CREATE)

    assert response.status_code == 200
    row = row_named("Billing")
    assert (row.backchannel_logout_uri, row.backchannel_logout_session_required) == (None, False)
    page = console.get(f"/admin/clients/{row.client_id}").get_data(as_text=True)
    assert "not set" in page[page.index('id="client-backchannel"') :].split("</dd>")[0]
    assert "checked" not in SESSION_BOX.search(page).group(0)


BAD_URIS = [
    ("https://billing.example/logout#top", "fragment"),
    ("http://billing.example/logout", "https"),
    ("javascript:alert(1)", "https"),
    ("com.example.app:/logout", "https"),
    ("https://user@billing.example/logout", "user information"),
    ("https://billing.example/" + "a" * 477, "500"),  # 501 characters: the form's own length check
]


@pytest.mark.parametrize("uri, why", BAD_URIS)
def test_a_bad_uri_is_shown_next_to_its_field_and_nothing_is_created(console, uri, why):
    response = post_form(console, "/admin/clients/new", {**CREATE, "backchannel_logout_uri": uri})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert why in field_error(page)
    assert 'href="#backchannel_logout_uri"' in page  # the summary at the top links to the field
    assert row_named("Billing") is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "admin.client_created")) is None


# --- edit ---


def test_editing_sets_the_fields(console, create_oauth_client):  # noqa: F811
    client, _ = create_oauth_client(name="Reports")
    path = f"/admin/clients/{client.client_id}"
    data = edit_data(client, backchannel_logout_uri=BACKCHANNEL_URI, backchannel_logout_session_required="y")

    response = post_form(console, f"{path}/edit", data, path)

    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert stored(client.client_id) == (BACKCHANNEL_URI, True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "admin.client_updated"))
    assert {"backchannel_logout_uri", "backchannel_logout_session_required"} <= set(event.details["fields"])


def test_an_edit_that_leaves_them_alone_keeps_them(console, create_oauth_client):  # noqa: F811
    client, _ = create_oauth_client(
        name="Reports", backchannel_logout_uri=BACKCHANNEL_URI, backchannel_logout_session_required=True
    )
    path = f"/admin/clients/{client.client_id}"

    response = post_form(console, f"{path}/edit", edit_data(client, name="Reports 2"), path)

    assert response.status_code == 303
    assert stored(client.client_id) == (BACKCHANNEL_URI, True)


def test_editing_clears_the_fields(console, create_oauth_client):  # noqa: F811
    client, _ = create_oauth_client(
        name="Reports", backchannel_logout_uri=BACKCHANNEL_URI, backchannel_logout_session_required=True
    )
    path = f"/admin/clients/{client.client_id}"
    data = edit_data(client, backchannel_logout_uri="")
    del data["backchannel_logout_session_required"]  # an unticked box is not sent

    response = post_form(console, f"{path}/edit", data, path)

    assert response.status_code == 303
    assert stored(client.client_id) == (None, False)
    page = console.get(path).get_data(as_text=True)
    assert "not set" in page[page.index('id="client-backchannel"') :].split("</dd>")[0]


@pytest.mark.parametrize("uri, why", BAD_URIS)
def test_a_bad_uri_in_an_edit_is_shown_next_to_its_field_and_changes_nothing(console, create_oauth_client, uri, why):  # noqa: F811
    client, _ = create_oauth_client(name="Reports", backchannel_logout_uri=BACKCHANNEL_URI)
    path = f"/admin/clients/{client.client_id}"

    response = post_form(console, f"{path}/edit", edit_data(client, name="Renamed", backchannel_logout_uri=uri), path)

    assert response.status_code == 400
    assert why in field_error(response.get_data(as_text=True))
    assert stored(client.client_id) == (BACKCHANNEL_URI, False)
    assert row_named("Reports") is not None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event_type == "admin.client_updated")) is None
