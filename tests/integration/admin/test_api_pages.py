"""The console's API (resource server) pages: list, register, settings, scopes, clients allowed, delete; access and bad input."""

from __future__ import annotations

import html

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.core import apis, rbac
from app.core.audit import CLI_ORIGIN
from app.extensions import db
from app.models import ApiResource, AuditEvent, OAuthClient
from app.models.rbac import CustomScope
from tests.conftest import AuthActions, csrf_from
from tests.integration.oauth.conftest import create_oauth_client  # noqa: F401  (fixture)

PHOTOS = "https://photos.example/api"
CONFIRMED = {"confirmed": "yes"}


@pytest.fixture
def photos(app) -> ApiResource:
    spec = apis.ApiSpec(PHOTOS, "Photo API", {"photos:read": "See your photos"})
    api = apis.create_api(spec, actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    return api


@pytest.fixture
def gallery(create_oauth_client) -> OAuthClient:  # noqa: F811
    client, _ = create_oauth_client(name="Gallery")
    return client


def post(console: FlaskClient, path: str, data: dict | None = None, *, page: str = "/admin/apis"):
    token = csrf_from(console.get(page).get_data(as_text=True))
    return console.post(path, data={**(data or {}), "csrf_token": token})


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


def fresh(ident: int) -> ApiResource | None:
    db.session.expire_all()
    return db.session.get(ApiResource, ident)


def api_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(ApiResource))


# --- the list and registering ---


def test_the_list_shows_each_api_with_its_counts_and_the_nav_links_to_it(console, photos, gallery):
    apis.set_client_apis(gallery, [photos], actor=None, origin=CLI_ORIGIN)
    db.session.commit()

    page = console.get("/admin/apis").get_data(as_text=True)

    row = page[page.index(f'id="api-{photos.id}"') :].split("</tr>")[0]
    assert "Photo API" in row and PHOTOS in row
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[3:5]] == ["1", "1"]  # one scope, one client
    assert 'href="/admin/apis"' in page and 'aria-current="page"' in page
    box = page[page.index('<input aria-describedby="allow_introspection-hint"') :].split(">")[0]
    assert " checked " in box  # introspection is allowed unless the operator unticks it


def test_an_admin_registers_an_api_with_scopes_and_it_is_audited(console, admin):
    data = {
        "identifier": "https://billing.example/",
        "name": "Billing",
        "access_token_seconds": "300",
        "signing_alg": "RS256",
        "allow_introspection": "y",
        "scopes": "invoices:read = Read your invoices\r\n\r\ninvoices:pay = Pay your invoices\r\n",
    }
    response = post(console, "/admin/apis/new", data)

    api = apis.find_api("https://billing.example/")
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/apis/{api.id}"
    assert (api.name, api.access_token_seconds, api.signing_alg, api.allow_introspection) == ("Billing", 300, "RS256", True)
    assert {s.name: s.description for s in api.scopes} == {
        "invoices:pay": "Pay your invoices",
        "invoices:read": "Read your invoices",
    }
    [event] = events("admin.api_created")
    assert event.actor_user_id == admin.id and event.details["api"] == "https://billing.example/"
    assert "Billing" in text_of(console.get(response.headers["Location"]))


def test_registering_with_defaults_and_introspection_unticked(console):
    response = post(console, "/admin/apis/new", {"identifier": "urn:example:api", "name": "Internal"})

    api = apis.find_api("urn:example:api")
    assert response.status_code == 303
    assert (api.access_token_seconds, api.signing_alg, api.allow_introspection, api.scopes) == (None, None, False, [])


@pytest.mark.parametrize(
    "changes, field, problem",
    [
        ({"identifier": ""}, "identifier", "Enter the API's identifier."),
        ({"identifier": "not a uri"}, "identifier", "absolute URI"),
        ({"identifier": "https://x.example/#frag"}, "identifier", "absolute URI"),
        ({"identifier": PHOTOS}, "identifier", "Another API already uses this identifier."),
        ({"identifier": "https://x.example/" + "a" * 600}, "identifier", "Use at most"),
        ({"name": ""}, "name", "Enter a name."),
        ({"name": "n" * 101}, "name", "Use at most 100 characters."),
        ({"access_token_seconds": "ten"}, "access_token_seconds", "whole number"),
        ({"access_token_seconds": "-5"}, "access_token_seconds", "whole number"),
        ({"access_token_seconds": "١٢٠"}, "access_token_seconds", "whole number"),  # digits, but not ASCII
        ({"access_token_seconds": "9" * 40}, "access_token_seconds", "Use at most"),
        ({"access_token_seconds": "10"}, "access_token_seconds", "Token lifetime: from 60 to"),
        ({"access_token_seconds": "999999"}, "access_token_seconds", "Token lifetime: from 60 to"),
        ({"signing_alg": "HS256"}, "signing_alg", "Choose one of the signing algorithms offered."),
        ({"scopes": "no description here"}, "scopes", "Line 1: write the scope as"),
        ({"scopes": "a:b = One\nc:d ="}, "scopes", "Line 2: write the scope as"),
        ({"scopes": "a:b = One\na:b = Two"}, "scopes", "listed twice"),
        ({"scopes": "photos:read = Taken already"}, "scopes", "is already taken"),
        ({"scopes": "openid = Built in"}, "scopes", "built-in scope"),
        ({"scopes": 'bad"name = Quoted'}, "scopes", "visible characters"),
        ({"scopes": "a:b = " + "d" * 201}, "scopes", "Keep the description under"),
        ({"scopes": "\n".join(f"s{i} = Scope {i}" for i in range(51))}, "scopes", "At most 50 scopes"),
    ],
)
def test_a_bad_field_is_refused_next_to_it_with_400_and_nothing_is_stored(console, photos, changes, field, problem):
    data = {"identifier": "https://new.example/", "name": "New", "scopes": "new:read = Read new things", **changes}
    response = post(console, "/admin/apis/new", data)

    page = text_of(response)
    assert response.status_code == 400
    errors = page[page.index(f'id="{field}-errors"') :].split("</ul>")[0]
    assert problem in errors
    assert f'<a href="#{field}">' in page  # the summary links to the field
    assert api_count() == 1 and [s.name for s in rbac.list_scopes()] == ["photos:read"]
    assert len(events("admin.api_created")) == 1  # only the fixture's


def test_every_field_in_error_is_marked_at_once(console):
    response = post(console, "/admin/apis/new", {"identifier": "relative/path", "name": "", "signing_alg": "x"})

    page = text_of(response)
    assert response.status_code == 400
    for field in ("identifier", "name", "signing_alg"):
        assert f'id="{field}-errors"' in page and f'<a href="#{field}">' in page
    assert api_count() == 0


# --- one API ---


def test_the_api_page_shows_its_settings_scopes_and_clients(console, photos, gallery):
    page = text_of(console.get(f"/admin/apis/{photos.id}"))

    assert PHOTOS in page and 'value="Photo API"' in page
    assert 'data-scope="photos:read"' in page and "See your photos" in page
    assert f'<option value="{gallery.client_id}">Gallery</option>' in page
    assert 'id="api-clients"' not in page


@pytest.mark.parametrize("path", ["/admin/apis/999", "/admin/apis/999/delete", "/admin/apis/abc"])
def test_an_unknown_api_is_a_404_page(console, path):
    response = console.get(path)
    assert response.status_code == 404 and "text/html" in response.headers["Content-Type"]


def test_an_admin_edits_the_settings_and_the_identifier_stays(console, photos, admin):
    page = f"/admin/apis/{photos.id}"
    data = {"name": "Photos", "access_token_seconds": "120", "signing_alg": "ES256", "identifier": "https://evil.example/"}
    response = post(console, f"/admin/apis/{photos.id}/edit", data, page=page)

    api = fresh(photos.id)
    assert response.status_code == 303 and response.headers["Location"] == page
    assert (api.identifier, api.name, api.access_token_seconds, api.signing_alg) == (PHOTOS, "Photos", 120, "ES256")
    assert api.allow_introspection is False  # the box was not ticked
    assert events("admin.api_updated")[0].actor_user_id == admin.id


@pytest.mark.parametrize(
    "changes, field, problem",
    [
        ({"name": "  "}, "name", "Enter a name."),
        ({"access_token_seconds": "1e3"}, "access_token_seconds", "whole number"),
        ({"access_token_seconds": "5"}, "access_token_seconds", "Token lifetime"),
        ({"signing_alg": "none"}, "signing_alg", "signing algorithms offered"),
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(console, photos, changes, field, problem):
    page = f"/admin/apis/{photos.id}"
    response = post(console, f"/admin/apis/{photos.id}/edit", {"name": "Photos", **changes}, page=page)

    assert response.status_code == 400
    body = text_of(response)
    assert problem in body[body.index(f'id="{field}-errors"') :]
    api = fresh(photos.id)
    assert (api.name, api.access_token_seconds, api.signing_alg) == ("Photo API", None, None)
    assert not events("admin.api_updated")


def test_an_admin_adds_a_scope_to_the_api(console, photos):
    page = f"/admin/apis/{photos.id}"
    data = {"scope-name": "photos:write", "scope-description": "Add photos"}
    response = post(console, f"/admin/apis/{photos.id}/scopes", data, page=page)

    assert response.status_code == 303 and response.headers["Location"] == page + "#scopes"
    assert fresh(photos.id).scope_names() == {"photos:read", "photos:write"}
    assert events("admin.api_scope_added")[0].details == {"api": PHOTOS, "scope": "photos:write"}


@pytest.mark.parametrize(
    "name, description, field, problem",
    [
        ("photos:read", "Again", "scope-name", "already taken"),
        ("profile", "Built in", "scope-name", "built-in scope"),
        ("two words", "Spaces", "scope-name", "visible characters"),
        ("x" * 65, "Long", "scope-name", "Use at most 64"),
        ("", "No name", "scope-name", "Enter a name."),
        ("photos:write", "", "scope-description", "Describe what the scope"),
        ("photos:write", "d" * 201, "scope-description", "Use at most 200"),
    ],
)
def test_a_bad_scope_is_refused_and_nothing_is_added(console, photos, name, description, field, problem):
    page = f"/admin/apis/{photos.id}"
    data = {"scope-name": name, "scope-description": description}
    response = post(console, f"/admin/apis/{photos.id}/scopes", data, page=page)

    body = text_of(response)
    assert response.status_code == 400
    assert problem in body[body.index(f'id="{field}-errors"') :]
    assert f'<a href="#{field}">' in body  # the summary above the form links to the field
    assert [s.name for s in rbac.list_scopes()] == ["photos:read"]


def test_removing_a_scope_asks_first_then_removes_it(console, photos):
    scope = photos.scopes[0]
    path = f"/admin/apis/{photos.id}/scopes/{scope.id}/remove"

    asked = console.get(path)
    assert asked.status_code == 200 and "photos:read" in text_of(asked) and 'name="confirmed"' in text_of(asked)
    skipped = post(console, path, page=path)  # CSRF-valid, but not the confirm button
    assert skipped.status_code == 400 and fresh(photos.id).scope_names() == {"photos:read"}

    response = post(console, path, CONFIRMED, page=path)
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/apis/{photos.id}#scopes"
    assert fresh(photos.id).scope_names() == set() and not rbac.list_scopes()
    assert events("admin.api_scope_removed")[0].details == {"api": PHOTOS, "scope": "photos:read"}


def test_a_scope_of_another_api_or_none_cannot_be_removed_here(console, photos, admin):
    loose = rbac.create_scope("loose:read", "Loose", actor=admin, origin=CLI_ORIGIN)
    db.session.commit()
    for scope_id in (loose.id, 999):
        path = f"/admin/apis/{photos.id}/scopes/{scope_id}/remove"
        assert console.get(path).status_code == 404
    assert len(rbac.list_scopes()) == 2


def test_allowing_a_client_and_removing_it_with_confirmation(console, photos, gallery):
    page = f"/admin/apis/{photos.id}"
    response = post(console, f"/admin/apis/{photos.id}/clients", {"allow-client_id": gallery.client_id}, page=page)

    assert response.status_code == 303 and response.headers["Location"] == page + "#clients"
    assert [c.client_id for c in fresh(photos.id).clients] == [gallery.client_id]
    assert events("admin.client_apis_changed")[0].details["apis"] == [PHOTOS]
    shown = text_of(console.get(page))
    assert f'data-client="{gallery.client_id}"' in shown and 'id="no-clients-to-allow"' in shown

    path = f"/admin/apis/{photos.id}/clients/{gallery.client_id}/remove"
    assert console.get(path).status_code == 200
    assert post(console, path, page=path).status_code == 400 and fresh(photos.id).clients
    response = post(console, path, CONFIRMED, page=path)
    assert response.status_code == 303 and not fresh(photos.id).clients
    assert events("admin.client_apis_changed")[1].details["apis"] == []


@pytest.mark.parametrize("client_id", ["", "no-such-client", "x" * 500])
def test_allowing_an_unknown_client_is_refused(console, photos, gallery, client_id):
    page = f"/admin/apis/{photos.id}"
    response = post(console, f"/admin/apis/{photos.id}/clients", {"allow-client_id": client_id}, page=page)

    assert response.status_code == 400 and "Choose one of the clients offered." in text_of(response)
    assert '<a href="#allow-client_id">' in text_of(response)
    assert not fresh(photos.id).clients and not events("admin.client_apis_changed")


def test_removing_a_client_that_is_not_allowed_is_a_404(console, photos, gallery):
    assert console.get(f"/admin/apis/{photos.id}/clients/{gallery.client_id}/remove").status_code == 404
    assert console.get(f"/admin/apis/{photos.id}/clients/nobody/remove").status_code == 404


def test_deleting_an_api_asks_first_then_removes_it_and_its_scopes(console, photos, admin):
    path = f"/admin/apis/{photos.id}/delete"
    asked = console.get(path)
    assert asked.status_code == 200 and "Photo API" in text_of(asked)
    assert f'href="/admin/apis/{photos.id}"' in text_of(asked)  # cancel goes back to the API
    assert post(console, path, page=path).status_code == 400 and api_count() == 1

    response = post(console, path, CONFIRMED, page=path)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/apis"
    assert api_count() == 0 and not db.session.scalars(select(CustomScope)).all()
    assert events("admin.api_deleted")[0].actor_user_id == admin.id


# --- who may, and forged posts ---


def every_route(api: ApiResource, scope_id: int, client_id: str) -> list[tuple[str, str]]:
    base = f"/admin/apis/{api.id}"
    return [
        ("GET", "/admin/apis"),
        ("POST", "/admin/apis/new"),
        ("GET", base),
        ("POST", f"{base}/edit"),
        ("POST", f"{base}/scopes"),
        ("GET", f"{base}/scopes/{scope_id}/remove"),
        ("POST", f"{base}/scopes/{scope_id}/remove"),
        ("POST", f"{base}/clients"),
        ("GET", f"{base}/clients/{client_id}/remove"),
        ("POST", f"{base}/clients/{client_id}/remove"),
        ("GET", f"{base}/delete"),
        ("POST", f"{base}/delete"),
    ]


def test_signed_in_people_who_are_not_admins_get_403_and_nothing_changes(app, photos, gallery, create_user, subtests):
    apis.set_client_apis(gallery, [photos], actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    ada = create_user(email="ada@example.com")
    client = app.test_client()
    AuthActions(client).login(ada.email)
    token = csrf_from(client.get("/account/").get_data(as_text=True))
    data = {"csrf_token": token, "identifier": "https://x.example/", "name": "X", "confirmed": "yes"}
    for method, path in every_route(photos, photos.scopes[0].id, gallery.client_id):
        with subtests.test(method=method, path=path):
            response = client.get(path) if method == "GET" else client.post(path, data=data)
            assert response.status_code == 403
            assert PHOTOS not in response.get_data(as_text=True)
    api = fresh(photos.id)
    assert api_count() == 1 and api.name == "Photo API" and api.scope_names() == {"photos:read"} and api.clients


def test_anonymous_visitors_are_sent_to_sign_in(app, photos, gallery):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for method, path in every_route(photos, photos.scopes[0].id, gallery.client_id):
        response = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": token, **CONFIRMED})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    assert api_count() == 1 and fresh(photos.id).scope_names() == {"photos:read"}


def test_a_post_without_its_csrf_token_is_refused(console, photos, gallery):
    apis.set_client_apis(gallery, [photos], actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    base = f"/admin/apis/{photos.id}"
    for path, data in [
        ("/admin/apis/new", {"identifier": "https://x.example/", "name": "X"}),
        (f"{base}/edit", {"name": "Renamed"}),
        (f"{base}/scopes", {"scope-name": "photos:write", "scope-description": "Add"}),
        (f"{base}/scopes/{photos.scopes[0].id}/remove", CONFIRMED),
        (f"{base}/clients", {"allow-client_id": gallery.client_id}),
        (f"{base}/clients/{gallery.client_id}/remove", CONFIRMED),
        (f"{base}/delete", CONFIRMED),
    ]:
        assert console.post(path, data=data).status_code == 400, path
    api = fresh(photos.id)
    assert api_count() == 1 and api.name == "Photo API" and api.scope_names() == {"photos:read"} and api.clients
