"""Authorization endpoint errors (RFC 6749 4.1.2.1, RFC 9207, OIDC Core 3.1.2): page or redirect, never both wrong.

OpenID conformance modules covered here: oidcc-ensure-registered-redirect-uri,
oidcc-ensure-redirect-uri-in-authorization-request, oidcc-redirect-uri-query-OK / -mismatch / -added,
oidcc-response-type-missing, oidcc-ensure-request-with-unknown-parameter-succeeds, oidcc-display-page /
-popup, oidcc-ui-locales, oidcc-claims-locales, oidcc-ensure-request-with-acr-values-succeeds,
oidcc-claims-essential (ignored: claims_parameter_supported is false), oidcc-ensure-post-request-succeeds,
oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from app.models import AuditEvent, AuthorizationCode, OAuthConsent
from tests.conftest import audit_types
from tests.integration.oauth.conftest import REDIRECT_URI, count_rows, params_of, redirect_base

# Each differs from the registered https://rp.example/cb by one normalisation a lax matcher would forgive.
REDIRECT_VARIANTS = [
    "https://rp.example/cb/",
    "https://RP.example/cb",
    "https://rp.example/CB",
    "HTTPS://rp.example/cb",
    "https://rp.example/cb?extra=1",
    "https://rp.example/cb?",
    "https://rp.example:8443/cb",
    "https://rp.example:443/cb",
    "https://rp.example/cb#fragment",
    "https://rp.example/cb/../cb",
    "https://rp.example/c%62",
    "https://rp.example/cb%20",
    "https://rp.example.evil.example/cb",
    "https://evil.example/cb",
    "https://evil.example/https://rp.example/cb",
    "http://rp.example/cb",
    "//rp.example/cb",
    "/cb",
    "",
]


@pytest.fixture
def signed_in(auth, create_user):
    user = create_user(email="ada@example.com")
    auth.login(user.email)
    return user


@pytest.fixture
def rp_client(create_oauth_client):
    return create_oauth_client()


def assert_error_page(response, error: str | None = None):
    """A 400 page on the IdP itself: no Location, so nothing goes to an unvalidated URI."""
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    if error:
        assert f'data-error="{error}"' in response.get_data(as_text=True)


def assert_error_redirect(response, app, pending, error: str, *, to: str = REDIRECT_URI):
    assert response.status_code == 302
    assert redirect_base(response) == to
    params = params_of(response)
    assert params["error"] == error
    assert params["iss"] == app.config["ISSUER"]
    assert params["state"] == pending.params["state"]
    assert "code" not in params
    return params


def nothing_issued():
    assert count_rows(AuthorizationCode) == 0
    assert count_rows(OAuthConsent) == 0


def test_unknown_client_gets_an_error_page_not_a_redirect(rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    for client_id in ["unknown-client", "", "x" * 65, "' OR 1=1 --"]:
        with subtests.test(client_id=client_id):
            assert_error_page(rp.authorize(rp.request(client, client_id=client_id)), "invalid_client")
            nothing_issued()


def test_missing_client_id_gets_an_error_page(rp, signed_in, rp_client):
    client, _ = rp_client
    response = rp.authorize(rp.request(client, client_id=None))

    assert_error_page(response, "invalid_client")
    nothing_issued()


def test_disabled_client_gets_an_error_page(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_disabled=True)

    assert_error_page(rp.authorize(rp.request(client)), "invalid_client")
    nothing_issued()


def test_redirect_uri_must_match_a_registered_one_byte_for_byte(rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    for redirect_uri in REDIRECT_VARIANTS:
        with subtests.test(redirect_uri=redirect_uri):
            assert_error_page(rp.authorize(rp.request(client, redirect_uri=redirect_uri)))
            nothing_issued()


def test_missing_redirect_uri_gets_an_error_page_even_with_one_registered(rp, signed_in, rp_client):
    client, _ = rp_client

    assert_error_page(rp.authorize(rp.request(client, redirect_uri=None)))
    nothing_issued()


def test_redirect_uri_of_another_client_is_refused(rp, signed_in, rp_client, create_oauth_client):
    client, _ = rp_client
    create_oauth_client(redirect_uris=["https://other.example/cb"])

    assert_error_page(rp.authorize(rp.request(client, redirect_uri="https://other.example/cb")))


def test_a_second_registered_redirect_uri_is_accepted(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(redirect_uris=[REDIRECT_URI, "https://rp.example/other"])

    response = rp.authorize(rp.request(client, redirect_uri="https://rp.example/other"))

    assert response.status_code == 200  # the consent page


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_loopback_redirect_uri_may_use_any_port(rp, signed_in, create_oauth_client, host, subtests):
    """RFC 8252 7.3 / OAuth 2.1 8.4.2: native apps listen on an ephemeral loopback port."""
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=[f"http://{host}/callback"], is_native=True)
    for port in ["", ":1", ":51234", ":65535"]:
        with subtests.test(port=port):
            response = rp.authorize(rp.request(client, redirect_uri=f"http://{host}{port}/callback"))
            assert response.status_code == 200  # the consent page: the URI was accepted


def test_a_registered_loopback_port_may_vary_too(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=["http://127.0.0.1:8080/callback"], is_native=True)

    assert rp.authorize(rp.request(client, redirect_uri="http://127.0.0.1:9090/callback")).status_code == 200


LOOPBACK_VARIANTS = [
    "http://127.0.0.1:51234/callback/",
    "http://127.0.0.1:51234/other",
    "http://127.0.0.1:51234/callback?x=1",
    "http://127.0.0.2:51234/callback",
    "http://localhost:51234/callback",
    "https://127.0.0.1:51234/callback",
    "http://127.0.0.1:0x50/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:/callback",
    "http://user@127.0.0.1:5000/callback",
]


def test_loopback_port_freedom_allows_nothing_else_to_vary(rp, signed_in, create_oauth_client, subtests):
    client, _ = create_oauth_client(is_confidential=False, redirect_uris=["http://127.0.0.1/callback"], is_native=True)
    for redirect_uri in LOOPBACK_VARIANTS:
        with subtests.test(redirect_uri=redirect_uri):
            assert_error_page(rp.authorize(rp.request(client, redirect_uri=redirect_uri)))
            nothing_issued()


def test_non_loopback_http_port_may_not_vary(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(redirect_uris=["https://rp.example:8443/cb"])

    assert_error_page(rp.authorize(rp.request(client, redirect_uri="https://rp.example:9443/cb")))


def test_unsupported_response_type_redirects_with_error_state_and_iss(app, rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    for response_type in ["token", "code id_token", "id_token", "code token", "none", "CODE"]:
        with subtests.test(response_type=response_type):
            pending = rp.request(client, response_type=response_type)
            assert_error_redirect(rp.authorize(pending), app, pending, "unsupported_response_type")
            nothing_issued()


def test_a_missing_response_type_redirects_with_invalid_request(app, rp, signed_in, rp_client):
    client, _ = rp_client
    pending = rp.request(client, response_type=None)

    assert_error_redirect(rp.authorize(pending), app, pending, "invalid_request")
    nothing_issued()


def test_unsupported_response_type_with_a_bad_redirect_uri_gets_the_page(rp, signed_in, rp_client):
    client, _ = rp_client
    for response_type in ["token", "code id_token"]:
        pending = rp.request(client, response_type=response_type, redirect_uri="https://evil.example/cb")
        assert_error_page(rp.authorize(pending))


def test_unsupported_response_type_for_an_unknown_client_gets_the_page(rp, signed_in, rp_client):
    client, _ = rp_client

    assert_error_page(rp.authorize(rp.request(client, response_type="token", client_id="nobody")))


def test_a_scope_the_client_may_not_use_redirects_with_invalid_scope(app, rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    for scope in ["admin", "profile:write", "offline_access_all"]:
        with subtests.test(scope=scope):
            pending = rp.request(client, scope=scope)
            assert_error_redirect(rp.authorize(pending), app, pending, "invalid_scope")
            nothing_issued()


def test_a_missing_scope_redirects_with_invalid_scope(app, rp, signed_in, rp_client):
    client, _ = rp_client
    pending = rp.request(client, scope=None)

    assert_error_redirect(rp.authorize(pending), app, pending, "invalid_scope")
    nothing_issued()


def test_a_scope_outside_the_clients_list_is_dropped_from_what_is_granted(app, rp, signed_in, create_oauth_client):
    """OIDC Core 3.1.2.1: scope values not understood are ignored; only the client's own are granted."""
    client, secret = create_oauth_client(scope="openid email")
    issued = rp.code(client, scope="openid email admin profile")

    tokens = rp.redeem(client, secret, issued).get_json()

    assert tokens["scope"] == "openid email"


def test_bad_scope_with_a_bad_redirect_uri_gets_the_page(rp, signed_in, rp_client):
    client, _ = rp_client

    assert_error_page(rp.authorize(rp.request(client, scope="admin", redirect_uri="https://evil.example/cb")))


def test_request_objects_are_refused_with_their_own_error(app, rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    cases = [
        ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "request_not_supported"),
    ]
    for parameter, value, error in cases:
        with subtests.test(parameter=parameter, value=value):
            pending = rp.request(client, **{parameter: value})
            assert_error_redirect(rp.authorize(pending), app, pending, error)
            nothing_issued()


def test_a_request_uri_that_was_not_pushed_here_gets_the_page(rp, signed_in, rp_client, subtests):
    """RFC 9126 4: only request_uris from our PAR endpoint; any other is invalid_request_uri, never a redirect."""
    client, _ = rp_client
    for value in ["https://rp.example/request.jwt", "urn:ietf:params:oauth:request_uri:abc"]:
        with subtests.test(value=value):
            assert_error_page(rp.authorize(rp.request(client, request_uri=value)), "invalid_request_uri")
            nothing_issued()


def test_request_object_with_a_bad_redirect_uri_gets_the_page(rp, signed_in, rp_client):
    client, _ = rp_client

    assert_error_page(rp.authorize(rp.request(client, request="a.b.c", redirect_uri="https://evil.example/cb")))


def test_a_duplicated_parameter_gets_an_error_page(rp, signed_in, rp_client, subtests):
    """RFC 6749 3.1: parameters must not repeat; which copy to trust is unknown, so no redirect either."""
    client, _ = rp_client
    params = rp.request(client).params
    for parameter in ["client_id", "redirect_uri", "response_type", "scope", "state"]:
        with subtests.test(parameter=parameter):
            response = rp.http.get("/oauth/authorize?" + urlencode([*params.items(), (parameter, params[parameter])]))
            assert_error_page(response, "invalid_request")
            nothing_issued()


def test_a_duplicated_code_challenge_redirects_with_invalid_request(app, rp, signed_in, rp_client):
    client, _ = rp_client
    pending = rp.request(client)
    params = pending.params

    response = rp.http.get("/oauth/authorize?" + urlencode([*params.items(), ("code_challenge", "A" * 43)]))

    assert_error_redirect(response, app, pending, "invalid_request")
    nothing_issued()


def test_any_other_repeated_parameter_redirects_with_invalid_request(app, rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    pending = rp.request(client)
    twice = {"nonce": ["other"], "code_challenge_method": ["S256"], "prompt": ["login", "none"], "max_age": ["0", "60"]}
    for parameter, extra in twice.items():
        with subtests.test(parameter=parameter):
            query = urlencode([*pending.params.items(), *((parameter, value) for value in extra)])
            assert_error_redirect(rp.http.get("/oauth/authorize?" + query), app, pending, "invalid_request")
            nothing_issued()


def test_a_parameter_repeated_across_query_and_body_counts_as_duplicated(rp, signed_in, rp_client):
    client, _ = rp_client
    params = rp.request(client).params

    response = rp.http.post("/oauth/authorize?" + urlencode({"redirect_uri": "https://evil.example/cb"}), data=params)

    assert_error_page(response)


def test_an_unparsable_max_age_redirects_with_invalid_request(app, rp, signed_in, rp_client, subtests):
    client, _ = rp_client
    for max_age in ["abc", "-1", "1.5", "1e3"]:
        with subtests.test(max_age=max_age):
            pending = rp.request(client, max_age=max_age)
            assert_error_redirect(rp.authorize(pending), app, pending, "invalid_request")


def test_prompt_none_combined_with_another_value_is_invalid_request(app, rp, signed_in, rp_client):
    client, _ = rp_client
    pending = rp.request(client, prompt="none consent")

    assert_error_redirect(rp.authorize(pending), app, pending, "invalid_request")


def test_unknown_parameters_are_ignored(rp, signed_in, rp_client):
    client, _ = rp_client

    extra = {
        "foo": "bar",
        "claims_locales": "de",
        "ui_locales": "fr",
        "display": "popup",
        "acr_values": "urn:idp:acr:pwd",
        "claims": '{"id_token":{"email":{"essential":true}}}',
    }
    response = rp.authorize(rp.request(client, **extra))

    assert response.status_code == 200


def test_post_to_the_authorization_endpoint_works_like_get(app, rp, signed_in, rp_client):
    """OIDC Core 3.1.2.1: GET and POST; the RP's form POST carries no CSRF token and needs none."""
    client, _ = rp_client
    pending = rp.request(client, scope="admin")

    assert rp.authorize(rp.request(client), method="POST").status_code == 200
    assert_error_redirect(rp.authorize(pending, method="POST"), app, pending, "invalid_scope")


def test_error_redirect_keeps_the_registered_query_and_adds_iss(app, rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(redirect_uris=["https://rp.example/cb?tenant=7"])
    pending = rp.request(client, response_type="token")

    response = rp.authorize(pending)

    params = assert_error_redirect(response, app, pending, "unsupported_response_type", to="https://rp.example/cb")
    assert params["tenant"] == "7"


def test_a_registered_query_is_kept_on_the_success_redirect(rp, create_user, create_oauth_client):
    client, _ = create_oauth_client(redirect_uris=["https://rp.example/cb?tenant=7"])

    issued = rp.code(client, create_user(email="ada@example.com"))

    assert issued.location["tenant"] == "7" and issued.location["code"]


def test_scope_order_does_not_matter(rp, create_user, rp_client):
    client, secret = rp_client

    tokens = rp.tokens(client, secret, create_user(email="ada@example.com"), scope="email profile openid")

    assert set(tokens["scope"].split()) == {"openid", "profile", "email"} and tokens["id_token"]


def test_success_redirect_carries_code_state_and_iss(app, rp, create_user, rp_client):
    client, _ = rp_client
    issued = rp.code(client, create_user(email="ada@example.com"))

    assert issued.location["iss"] == app.config["ISSUER"]
    assert issued.location["state"]
    assert set(issued.location) == {"code", "state", "iss"}


def test_state_is_optional_and_not_invented(rp, create_user, rp_client):
    client, _ = rp_client
    issued = rp.code(client, create_user(email="ada@example.com"), state=None)

    assert "state" not in issued.location


def test_errors_are_audited_nowhere_and_change_nothing(rp, signed_in, rp_client):
    client, _ = rp_client
    before = audit_types()

    for overrides in ({"redirect_uri": "https://evil.example/cb"}, {"response_type": "token"}, {"client_id": "x"}):
        rp.authorize(rp.request(client, **overrides))

    assert audit_types() == before
    assert count_rows(AuditEvent) == len(before)
    nothing_issued()
