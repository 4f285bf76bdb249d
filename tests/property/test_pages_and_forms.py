"""Every page and form, signed in as an administrator who passed MFA, thrown generated input: never a 5xx.

The routes come from the URL map, so a new form is covered without being listed here. Protocol endpoints
have their own, shaped strategies in test_protocol_endpoints.py; here they are skipped.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter

from app import config as app_config
from app import create_app
from app.core.protocol import MACHINE_PATH_PREFIXES
from tests.conftest import csrf_from
from tests.integration.admin.conftest import sign_in_with_totp
from tests.property.conftest import assert_no_server_error, hostile_params, hostile_text, raw_query

PROTOCOL_PATHS = (*MACHINE_PATH_PREFIXES, "/oauth/authorize", "/oauth/logout")
FORM_FIELDS = [
    "email", "password", "new_password", "confirm", "current_password", "name", "given_name", "family_name", "locale",
    "zoneinfo", "next", "user_code", "decision", "totp_code", "code", "recovery_code", "phone", "label", "description",
    "scope", "redirect_uris", "jwks", "role", "group", "page", "q", "status", "token", "reauth", "login_hint",
]  # fmt: skip


def _routes() -> list[tuple[str, str, dict]]:
    app = create_app(app_config.TestConfig())
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith(PROTOCOL_PATHS):
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            ints = {name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)}
            routes.append((method, rule.rule, {name: name in ints for name in rule.arguments}))
    return sorted(routes, key=lambda r: (r[1], r[0]))


ROUTES = _routes()
ids = st.one_of(st.sampled_from([1, 2, 3]), st.integers(min_value=0, max_value=2**80))


def _path(rule: str, arguments: dict[str, bool], draw) -> str:
    path = rule
    for name, is_int in arguments.items():
        value = str(draw(ids)) if is_int else quote(draw(hostile_text) or "x", safe="")
        path = path.replace(f"<int:{name}>", value).replace(f"<{name}>", value)
    return path


@pytest.fixture
def browser(app, create_user):
    """The administrator's browser after password and TOTP, and a CSRF token from it."""
    create_user(email="someone@example.com")
    admin = create_user(email="root@example.com", is_admin=True)
    http = app.test_client()
    sign_in_with_totp(http, app, admin)
    token = csrf_from(http.get("/account/profile").get_data(as_text=True))
    return http, token


@pytest.mark.parametrize(("method", "rule", "arguments"), ROUTES, ids=[f"{m} {r}" for m, r, _ in ROUTES])
@given(
    data=st.data(),
    query=st.one_of(hostile_params(FORM_FIELDS), raw_query(FORM_FIELDS)),
    form=hostile_params(FORM_FIELDS),
    with_csrf=st.booleans(),
)
def test_route(browser, method, rule, arguments, data, query, form, with_csrf):
    http, token = browser
    path = _path(rule, arguments, data.draw)
    if method == "GET":
        response = http.get(path, query_string=query) if isinstance(query, dict) else http.get(f"{path}?{query}")
    else:
        body = {**form, "csrf_token": token} if with_csrf else form
        response = http.post(path, data=body)
    assert_no_server_error(response)
