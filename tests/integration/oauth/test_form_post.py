"""response_mode=form_post (OAuth 2.0 Form Post Response Mode): the answer is a page whose form POSTs it.

Codes and the errors sent to the app arrive as hidden inputs of a form posting to the redirect URI exactly,
under a CSP that allows that one origin in form-action and still no inline script. An unknown or unusable
response_mode is refused by the default mode (query), as OAuth 2.0 Multiple Response Types asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from app.models import AuthorizationCode
from tests.conftest import csrf_from
from tests.integration.oauth.conftest import REDIRECT_URI, Issued, count_rows, params_of, redirect_base

FORM_POST = {"response_mode": "form_post"}


@dataclass
class FormPostPage:
    """What a browser would see of the page: forms, their hidden inputs and buttons, and the scripts."""

    forms: list[dict] = field(default_factory=list)
    scripts: list[dict] = field(default_factory=list)

    @property
    def answer(self) -> dict:
        """The one form that carries the answer (the base layout may add a sign-out form)."""
        (form,) = [f for f in self.forms if f["attrs"].get("id") == "form-post"]
        return form


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = FormPostPage()
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = {"attrs": attrs, "inputs": [], "buttons": []}
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            self._form["inputs"].append(attrs)
        elif tag == "button" and self._form is not None:
            self._form["buttons"].append(attrs)
        elif tag == "script":
            self.page.scripts.append(attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse(response) -> FormPostPage:
    parser = _Parser()
    parser.feed(response.get_data(as_text=True))
    return parser.page


def csp_directives(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_form_post(response, *, to: str = REDIRECT_URI) -> dict[str, str]:
    """A 200 page (no redirect) whose form posts hidden fields to `to` exactly; returns the fields."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = parse(response)
    form = page.answer
    assert form["attrs"]["action"] == to
    assert form["attrs"]["method"] == "post"
    assert all(i["type"] == "hidden" for i in form["inputs"])
    names = [i["name"] for i in form["inputs"]]
    assert len(names) == len(set(names)), names
    assert [b.get("type") for b in form["buttons"]] == ["submit"]  # Continue, for a browser without script
    assert {"src": "/static/form-post.js"} in page.scripts
    directives = csp_directives(response)
    assert directives["form-action"] == ["'self'", "{0.scheme}://{0.netloc}".format(urlsplit(to))]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    return {i["name"]: i["value"] for i in form["inputs"]}


def assert_query_error(response, app, pending, error: str, *, status: int = 302) -> dict[str, str]:
    assert response.status_code == status
    assert redirect_base(response) == REDIRECT_URI
    params = params_of(response)
    assert params["error"] == error and params["iss"] == app.config["ISSUER"]
    assert params["state"] == pending.params["state"]
    assert "code" not in params
    return params


@pytest.fixture
def signed_in(auth, user):
    auth.login(user.email)
    return user


@pytest.fixture
def third_party(create_oauth_client):
    return create_oauth_client(name="Photo Printer")


# --- codes ---


def test_a_first_party_code_arrives_as_a_form_and_redeems(app, rp, signed_in, first_party):
    client, secret = first_party
    pending = rp.request(client, **FORM_POST)

    fields = assert_form_post(rp.authorize(pending))

    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == pending.params["state"] and fields["iss"] == app.config["ISSUER"]
    tokens = rp.redeem(client, secret, Issued(fields["code"], pending.verifier, REDIRECT_URI))
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    assert {"access_token", "id_token"} <= set(tokens.get_json())


def test_a_posted_authorization_request_can_ask_for_form_post(rp, signed_in, first_party):
    client, _ = first_party

    fields = assert_form_post(rp.authorize(rp.request(client, **FORM_POST), method="POST"))

    assert fields["code"].startswith("ac_")


def test_the_consent_answer_is_a_form_with_the_code(app, rp, signed_in, third_party):
    client, secret = third_party
    pending = rp.request(client, **FORM_POST)
    consent_page = rp.authorize(pending)
    assert "form-action" not in consent_page.headers["Content-Security-Policy"]  # only the answer page allows it

    fields = assert_form_post(rp.answer(consent_page, "approve"))

    assert set(fields) == {"code", "state", "iss"} and fields["state"] == pending.params["state"]
    tokens = rp.redeem(client, secret, Issued(fields["code"], pending.verifier, REDIRECT_URI))
    assert tokens.status_code == 200, tokens.get_data(as_text=True)


def test_a_registered_query_stays_in_the_action_and_out_of_the_fields(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_first_party=True, redirect_uris=["https://rp.example/cb?tenant=a&x=1"])

    fields = assert_form_post(rp.authorize(rp.request(client, **FORM_POST)), to="https://rp.example/cb?tenant=a&x=1")

    assert set(fields) == {"code", "state", "iss"}


def test_the_redirect_uris_port_is_in_form_action(rp, signed_in, create_oauth_client):
    client, _ = create_oauth_client(is_first_party=True, redirect_uris=["https://rp.example:8443/cb"])

    response = rp.authorize(rp.request(client, **FORM_POST))

    assert parse(response).answer["attrs"]["action"] == "https://rp.example:8443/cb"
    assert csp_directives(response)["form-action"] == ["'self'", "https://rp.example:8443"]


@pytest.mark.parametrize(
    "state", ['"><script>alert(1)</script>', 'it\'s <b>&amp;</b> "quoted"', "a' onfocus='alert(1)", "ünï©ødé"]
)
def test_state_is_escaped_and_returned_exactly(rp, signed_in, first_party, state):
    client, _ = first_party

    response = rp.authorize(rp.request(client, state=state, **FORM_POST))

    assert assert_form_post(response)["state"] == state
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "<b>" not in html and "' onfocus='" not in html


# --- errors sent to the app ---


def test_prompt_none_without_a_sign_in_is_login_required_by_form(app, rp, first_party):
    client, _ = first_party
    pending = rp.request(client, prompt="none", **FORM_POST)

    fields = assert_form_post(rp.authorize(pending))

    assert fields["error"] == "login_required"
    assert fields["state"] == pending.params["state"] and fields["iss"] == app.config["ISSUER"]
    assert "code" not in fields and fields["error_description"]


def test_prompt_none_without_consent_is_consent_required_by_form(rp, signed_in, third_party):
    client, _ = third_party

    assert assert_form_post(rp.authorize(rp.request(client, prompt="none", **FORM_POST)))["error"] == "consent_required"


def test_deny_on_the_consent_page_is_access_denied_by_form(app, rp, signed_in, third_party):
    client, _ = third_party
    pending = rp.request(client, **FORM_POST)

    fields = assert_form_post(rp.answer(rp.authorize(pending), "deny"))

    assert fields["error"] == "access_denied" and "code" not in fields
    assert fields["state"] == pending.params["state"] and fields["iss"] == app.config["ISSUER"]
    assert count_rows(AuthorizationCode) == 0


@pytest.mark.parametrize("scope", ["api", "openid bad\\scope"])
def test_invalid_scope_is_sent_by_form(rp, signed_in, first_party, scope):
    client, _ = first_party

    fields = assert_form_post(rp.authorize(rp.request(client, scope=scope, **FORM_POST)))

    assert fields["error"] == "invalid_scope" and "code" not in fields


def test_a_missing_pkce_challenge_is_sent_by_form(rp, signed_in, first_party):
    client, _ = first_party

    fields = assert_form_post(rp.authorize(rp.request(client, pkce=False, **FORM_POST)))

    assert fields["error"] == "invalid_request"


# --- what is refused, and how ---


@pytest.mark.parametrize("mode", ["fragment", "jwt", "query.jwt", "form_post.jwt", "FORM_POST", "form_post ", "<x>"])
def test_an_unsupported_response_mode_is_refused_by_query(app, rp, signed_in, first_party, mode):
    client, _ = first_party
    pending = rp.request(client, response_mode=mode)

    params = assert_query_error(rp.authorize(pending), app, pending, "invalid_request")

    assert "response_mode" in params["error_description"]
    assert count_rows(AuthorizationCode) == 0


@pytest.mark.parametrize("mode", ["query", ""])
def test_query_or_an_empty_mode_is_the_default_redirect(rp, signed_in, first_party, mode):
    client, _ = first_party

    response = rp.authorize(rp.request(client, response_mode=mode))

    assert response.status_code == 302 and "code" in params_of(response)
    assert "form-action" not in response.headers["Content-Security-Policy"]


def test_a_repeated_response_mode_is_refused_by_query(app, rp, signed_in, first_party):
    client, _ = first_party
    pending = rp.request(client)
    query = {**pending.params, "response_mode": ["form_post", "form_post"]}

    response = rp.http.get("/oauth/authorize", query_string=query)

    assert "response_mode" in assert_query_error(response, app, pending, "invalid_request")["error_description"]


def test_an_unsupported_mode_on_the_consent_answer_is_refused_by_query(app, rp, signed_in, third_party):
    client, _ = third_party
    pending = rp.request(client, **FORM_POST)
    page = rp.authorize(pending)
    action = rp.consent_action(page).replace("response_mode=form_post", "response_mode=fragment")

    response = rp.http.post(action, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "approve"})

    assert_query_error(response, app, pending, "invalid_request", status=303)
    assert count_rows(AuthorizationCode) == 0


@pytest.mark.parametrize("redirect_uri", ["com.example.app:/callback", "http://[::1]:8080/callback"])
def test_form_post_is_refused_where_a_form_cannot_post(app, rp, signed_in, create_oauth_client, redirect_uri):
    client, _ = create_oauth_client(is_first_party=True, is_native=True, is_confidential=False, redirect_uris=[redirect_uri])
    pending = rp.request(client, **FORM_POST)

    response = rp.authorize(pending)

    assert response.status_code == 302 and response.headers["Location"].startswith(redirect_uri + "?")
    params = params_of(response)
    assert params["error"] == "invalid_request" and "form_post" in params["error_description"]
    assert "code" not in params and count_rows(AuthorizationCode) == 0


def test_errors_shown_as_pages_stay_pages(rp, signed_in, first_party):
    client, _ = first_party

    for overrides in ({"client_id": "unknown"}, {"redirect_uri": "https://evil.example/cb"}):
        response = rp.authorize(rp.request(client, **FORM_POST, **overrides))
        assert response.status_code == 400 and "Location" not in response.headers
        assert not [f for f in parse(response).forms if f["attrs"].get("id") == "form-post"]
        assert "form-action" not in response.headers["Content-Security-Policy"]
