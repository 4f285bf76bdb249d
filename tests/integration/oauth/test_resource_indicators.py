"""APIs and resource indicators (RFC 8707): audience-bound access tokens, scopes per API, invalid_target."""

from __future__ import annotations

import pytest
from joserfc import jws
from sqlalchemy import select

from app.core import apis
from app.core.audit import CLI_ORIGIN
from app.core.protocol import DEVICE_CODE
from app.extensions import db
from app.models import ApiResource, AuthorizationCode, RefreshToken
from tests.integration.oauth.conftest import count_rows, params_of, verify_jwt
from tests.integration.oauth.test_device_flow import decide, enter, poll, start

PHOTOS = "https://photos.example/api"
CALENDAR = "https://calendar.example/"


@pytest.fixture
def photos(app) -> ApiResource:
    api = apis.create_api(
        apis.ApiSpec(PHOTOS, "Photo API", {"photos:read": "See your photos", "photos:write": "Add and change photos"}),
        actor=None,
        origin=CLI_ORIGIN,
    )
    db.session.commit()
    return api


@pytest.fixture
def calendar(app) -> ApiResource:
    spec = apis.ApiSpec(
        CALENDAR, "Calendar API", {"calendar:read": "See your calendar"}, access_token_seconds=120, signing_alg="RS256"
    )
    api = apis.create_api(spec, actor=None, origin=CLI_ORIGIN)
    db.session.commit()
    return api


def allow(client, *api_list: ApiResource) -> None:
    apis.set_client_apis(client, list(api_list), actor=None, origin=CLI_ORIGIN)
    db.session.commit()


SCOPE = "openid profile photos:read photos:write calendar:read"


def latest(model):
    """The newest row (ids are not reset between tests on PostgreSQL)."""
    db.session.expire_all()
    return db.session.scalars(select(model).order_by(model.id.desc())).first()


@pytest.fixture
def app_client(create_oauth_client, photos, calendar):
    client, secret = create_oauth_client(is_first_party=True, scope=SCOPE + " offline_access")
    allow(client, photos, calendar)
    return client, secret


def test_a_token_for_an_api_names_it_as_audience_and_carries_only_its_scopes(app, rp, user, app_client):
    client, secret = app_client
    body = rp.tokens(client, secret, user, scope=SCOPE, resource=PHOTOS)

    claims = verify_jwt(rp.http, body["access_token"]).claims
    assert claims["aud"] == PHOTOS
    assert claims["scope"] == body["scope"] == "photos:read photos:write"
    assert "id_token" in body  # the ID token is about sign-in, for the app itself
    assert verify_jwt(rp.http, body["id_token"]).claims["aud"] == client.client_id


def test_several_resources_at_authorization_and_the_token_request_narrows_to_one(app, rp, user, app_client):
    client, secret = app_client
    issued = rp.code(client, user, scope=SCOPE, resource=[PHOTOS, CALENDAR])
    assert latest(AuthorizationCode).resources == [PHOTOS, CALENDAR]

    response = rp.redeem(client, secret, issued, resource=CALENDAR)

    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    claims = verify_jwt(rp.http, token).claims
    assert claims["aud"] == CALENDAR and claims["scope"] == "calendar:read"
    assert claims["exp"] - claims["iat"] == 120  # the API's own lifetime
    assert jws.extract_compact(token.encode()).headers()["alg"] == "RS256"  # and algorithm

    # The refresh token is good for every API granted, one per request, and for nothing else.
    refresh = response.get_json()["refresh_token"]
    photos = rp.refresh(client, secret, refresh, resource=PHOTOS)
    assert photos.status_code == 200, photos.get_json()
    assert verify_jwt(rp.http, photos.get_json()["access_token"]).claims["aud"] == PHOTOS
    assert photos.get_json()["scope"] == "photos:read photos:write"
    other = rp.refresh(client, secret, photos.get_json()["refresh_token"], resource="https://elsewhere.example/")
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_target"


def test_without_resource_at_the_token_endpoint_several_granted_is_invalid_target_and_the_code_stays_usable(
    app, rp, user, app_client
):
    client, secret = app_client
    issued = rp.code(client, user, scope=SCOPE, resource=[PHOTOS, CALENDAR])

    refused = rp.redeem(client, secret, issued)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"
    assert count_rows(RefreshToken) == 0

    retried = rp.redeem(client, secret, issued, resource=PHOTOS)
    assert retried.status_code == 200, retried.get_json()


def test_a_resource_not_granted_at_authorization_is_refused_at_the_token_endpoint(app, rp, user, app_client):
    client, secret = app_client
    issued = rp.code(client, user, scope=SCOPE, resource=PHOTOS)

    response = rp.redeem(client, secret, issued, resource=CALENDAR)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_one_resource_granted_is_the_audience_when_the_token_request_names_none(app, rp, user, app_client):
    client, secret = app_client
    body = rp.tokens(client, secret, user, scope=SCOPE, resource=CALENDAR)
    assert verify_jwt(rp.http, body["access_token"]).claims["aud"] == CALENDAR
    # API scopes of an API not asked for are not granted at all.
    assert "photos:read" not in latest(RefreshToken).scope.split()


def test_without_resource_tokens_are_as_before(app, rp, user, app_client):
    client, secret = app_client
    body = rp.tokens(client, secret, user)
    assert verify_jwt(rp.http, body["access_token"]).claims["aud"] == app.config["ISSUER"]


@pytest.mark.parametrize(
    "resource",
    [
        "https://unknown.example/api",  # no such API
        "https://photos.example/api#frag",  # a fragment (RFC 8707 2)
        "relative/path",  # not absolute
        "https://photos.example/api/",  # not byte for byte
        "https://ph\u00f6tos.example/",  # not ASCII
    ],
)
def test_bad_resources_at_authorization_go_back_to_the_app_as_invalid_target(app, rp, user, app_client, resource):
    client, _ = app_client
    rp.auth.login(user.email)
    before = count_rows(AuthorizationCode)

    response = rp.authorize(rp.request(client, scope=SCOPE, resource=resource))

    assert response.status_code == 302
    answer = params_of(response)
    assert answer["error"] == "invalid_target" and "code" not in answer and answer["iss"] == app.config["ISSUER"]
    assert count_rows(AuthorizationCode) == before


def test_an_api_the_client_is_not_allowed_is_invalid_target_everywhere(app, rp, user, create_oauth_client, photos):
    client, secret = create_oauth_client(
        is_first_party=True, scope=SCOPE, grant_types=["authorization_code", "client_credentials"]
    )  # never allowed the photo API
    rp.auth.login(user.email)
    response = rp.authorize(rp.request(client, scope=SCOPE, resource=PHOTOS))
    assert params_of(response)["error"] == "invalid_target"

    machine = rp.post("/oauth/token", client, secret, {"grant_type": "client_credentials", "resource": PHOTOS})
    assert machine.status_code == 400 and machine.get_json()["error"] == "invalid_target"


def test_taking_an_api_away_stops_refreshes_for_it(app, rp, user, app_client, photos, calendar):
    client, secret = app_client
    body = rp.tokens(client, secret, user, scope=SCOPE, resource=PHOTOS)
    allow(client, calendar)

    response = rp.refresh(client, secret, body["refresh_token"])

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_client_credentials_for_an_api(app, rp, create_oauth_client, photos):
    client, secret = create_oauth_client(grant_types=["client_credentials"], redirect_uris=[], scope="photos:read reports")
    allow(client, photos)

    response = rp.post("/oauth/token", client, secret, {"grant_type": "client_credentials", "resource": PHOTOS})

    assert response.status_code == 200, response.get_json()
    claims = verify_jwt(rp.http, response.get_json()["access_token"]).claims
    assert claims["aud"] == PHOTOS and claims["scope"] == "photos:read"
    other_scope = rp.post(
        "/oauth/token", client, secret, {"grant_type": "client_credentials", "resource": PHOTOS, "scope": "reports"}
    )
    assert other_scope.status_code == 400 and other_scope.get_json()["error"] == "invalid_scope"
    two = rp.post("/oauth/token", client, secret, {"grant_type": "client_credentials", "resource": [PHOTOS, PHOTOS]})
    assert two.status_code == 400 and two.get_json()["error"] == "invalid_target"  # one API per token


def test_introspection_reports_the_audience_and_respects_an_api_that_turned_it_off(
    app, rp, user, app_client, resource_server, photos
):
    client, secret = app_client
    body = rp.tokens(client, secret, user, scope=SCOPE, resource=PHOTOS)
    server, server_secret = resource_server

    answer = rp.introspect(server, server_secret, body["access_token"]).get_json()
    assert answer["active"] is True and answer["aud"] == PHOTOS and answer["scope"] == "photos:read photos:write"

    photos.allow_introspection = False
    db.session.commit()
    assert rp.introspect(server, server_secret, body["access_token"]).get_json() == {"active": False}


def test_the_consent_page_groups_permissions_by_api(app, rp, user, create_oauth_client, photos, calendar):
    client, _ = create_oauth_client(scope=SCOPE)
    allow(client, photos, calendar)
    rp.auth.login(user.email)

    page = rp.authorize(rp.request(client, scope=SCOPE, resource=[PHOTOS]))

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    section = html[html.index(f'data-resource="{PHOTOS}"') :]
    assert "Photo API" in section and 'data-scope="photos:read">See your photos</li>' in section
    assert 'data-scope="calendar:read"' not in html  # not asked for with its API
    assert html.index('data-scope="openid"') < html.index(f'data-resource="{PHOTOS}"')


def test_the_device_flow_takes_resources_and_the_token_request_narrows_to_one(
    app, rp, auth, user, create_oauth_client, photos, calendar
):
    tv, _ = create_oauth_client(is_confidential=False, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"], scope=SCOPE)
    allow(tv, photos, calendar)
    refused = start(rp, tv, scope=SCOPE, resource="https://unknown.example/")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"

    started = start(rp, tv, scope=SCOPE, resource=[PHOTOS, CALENDAR]).get_json()
    assert auth.login(user.email).status_code == 303
    confirm = enter(auth.client, started["user_code"])
    page = confirm.get_data(as_text=True)
    # The device page says what the device may do at each API, as the consent page does.
    for identifier, words in ((PHOTOS, "See your photos"), (CALENDAR, "See your calendar")):
        section = page[page.index(f'data-resource="{identifier}"') :]
        assert words in section[: section.index("</section>")]
    assert page.index('data-scope="openid"') < page.index(f'data-resource="{PHOTOS}"')
    assert decide(auth.client, confirm, "approve").status_code == 303
    assert poll(rp, tv, started["device_code"]).get_json()["error"] == "invalid_target"  # which one?
    response = rp.post(
        "/oauth/token", tv, None, {"grant_type": DEVICE_CODE, "device_code": started["device_code"], "resource": PHOTOS}
    )

    assert response.status_code == 200, response.get_json()
    claims = verify_jwt(rp.http, response.get_json()["access_token"]).claims
    assert claims["aud"] == PHOTOS and claims["scope"] == "photos:read photos:write"
