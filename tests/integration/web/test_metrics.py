"""/metrics: off without IDP_METRICS_TOKEN, Bearer-protected with it, and each event moves its own counter.

Counters live in the process for the whole run (as in a server), so every check compares two scrapes.
"""

from __future__ import annotations

import re
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import SMS_SENDS, counting_sends
from tests.conftest import DEFAULT_PASSWORD
from tests.integration.auth.helpers import post_form
from tests.integration.mfa.conftest import add_totp
from tests.integration.oauth.conftest import (  # noqa: F401  (fixtures)
    _pooled_signing_keys,
    create_oauth_client,
    first_party,
    resource_server,
    rp,
    rp_client,
    tokens,
    user,
)
from tests.mailbox import free_port

TOKEN = "metrics-" + "s" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}
EMAIL = "ada@example.com"


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch):
    """The setting as an operator gives it: IDP_METRICS_TOKEN in the server's environment."""
    monkeypatch.setenv("IDP_METRICS_TOKEN", TOKEN)


def without_reference(page: str) -> str:
    """The error page without its per-request reference (the request id) and its path in the language switch."""
    return re.sub(r'href="/[^"?]*\?lang=', 'href="?lang=', re.sub(r"reference [0-9a-f]+", "reference", page))


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.status_code
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


class Counters:
    """Scrape before, act, then `moved(name, **labels)` is how much that series grew."""

    def __init__(self, client) -> None:
        self.client = client
        self.before = scrape(client)
        self.after: dict | None = None

    def moved(self, name: str, **labels: str) -> float:
        if self.after is None:
            self.after = scrape(self.client)
        key = (name, frozenset(labels.items()))
        return self.after.get(key, 0.0) - self.before.get(key, 0.0)


def test_without_the_setting_metrics_is_the_unknown_page(app_factory, monkeypatch):
    monkeypatch.delenv("IDP_METRICS_TOKEN")
    client = app_factory().test_client()

    response = client.get("/metrics", headers=BEARER)
    unknown = client.get("/no-such-page-at-all")

    assert response.status_code == 404
    assert without_reference(response.get_data(as_text=True)) == without_reference(unknown.get_data(as_text=True))


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ", "Bearer é"])
def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(test_client, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = test_client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"
    assert b"idp_" not in response.get_data()


def test_the_scrape_parses_is_never_cached_and_is_not_counted_itself(test_client):
    response = test_client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"idp_http_requests", "idp_http_request_duration_seconds", "idp_build_info"} <= names

    counters = Counters(test_client)
    test_client.get("/metrics", headers=BEARER)
    test_client.get("/metrics")

    assert counters.moved("idp_http_requests_total", route="/metrics", method="GET", status="200") == 0
    assert not any(name.startswith("idp_http") and ("route", "/metrics") in labels for name, labels in counters.after)


def test_requests_are_counted_by_route_pattern_and_an_unknown_path_as_unmatched(test_client):
    counters = Counters(test_client)
    secret_path = f"/nothing-here-{uuid.uuid4().hex}"

    test_client.get("/login")
    test_client.get(secret_path)

    assert counters.moved("idp_http_requests_total", route="/login", method="GET", status="200") == 1
    assert counters.moved("idp_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert counters.moved("idp_http_request_duration_seconds_count", route="/login", method="GET") == 1
    text = test_client.get("/metrics", headers=BEARER).get_data(as_text=True)
    assert secret_path not in text


def test_an_odd_method_is_labelled_other_and_its_405_unmatched(test_client):
    counters = Counters(test_client)

    test_client.open("/login", method="BREW")

    assert counters.moved("idp_http_requests_total", route="unmatched", method="other", status="405") == 1


def test_sign_ins_are_counted_by_result(test_client, create_user):
    create_user(email=EMAIL)
    counters = Counters(test_client)

    post_form(test_client, "/login", {"email": EMAIL, "password": "not the right one"})
    post_form(test_client, "/login", {"email": "nobody@example.com", "password": "whatever it is"})
    post_form(test_client, "/login", {"email": EMAIL, "password": DEFAULT_PASSWORD})

    assert counters.moved("idp_sign_ins_total", factor="password", result="bad_credentials") == 1
    assert counters.moved("idp_sign_ins_total", factor="password", result="unknown_account") == 1
    assert counters.moved("idp_sign_ins_total", factor="password", result="success") == 1


def test_a_second_factor_is_counted_by_factor_and_result(app, test_client, create_user):
    user = create_user(email=EMAIL)
    totp = add_totp(app, user)
    counters = Counters(test_client)

    post_form(test_client, "/login", {"email": EMAIL, "password": DEFAULT_PASSWORD})
    wrong = next(code for code in ("000000", "111111", "222222") if not totp.verify(code, valid_window=2))
    for code in (wrong, totp.now()):
        post_form(test_client, "/mfa/challenge/totp", {"totp_code": code}, token_from="/mfa/challenge")

    assert counters.moved("idp_sign_ins_total", factor="password", result="mfa_required") == 1
    assert counters.moved("idp_mfa_challenges_total", factor="totp", result="failure") == 1
    assert counters.moved("idp_mfa_challenges_total", factor="totp", result="success") == 1


def test_a_lockout_is_counted_once_and_the_locked_attempt_by_its_result(app, test_client, create_user):
    create_user(email=EMAIL)
    counters = Counters(test_client)

    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        post_form(test_client, "/login", {"email": EMAIL, "password": "not the right one"})
    post_form(test_client, "/login", {"email": EMAIL, "password": DEFAULT_PASSWORD})

    assert counters.moved("idp_lockouts_total", reason="password") == 1
    assert counters.moved("idp_sign_ins_total", factor="password", result="locked") == 1
    assert counters.moved("idp_sign_ins_total", factor="password", result="success") == 0


def test_token_introspection_revocation_and_refresh_reuse_are_counted(rp, rp_client, tokens, resource_server):
    client, secret = rp_client
    counters = Counters(rp.http)

    rp.introspect(*resource_server, tokens["access_token"])
    rp.introspect(*resource_server, "not-a-token")
    rotated = rp.refresh(client, secret, tokens["refresh_token"]).get_json()
    assert rp.refresh(client, secret, tokens["refresh_token"]).status_code == 400  # reused: the family ends
    rp.revoke(client, secret, rotated["access_token"])

    assert counters.moved("idp_tokens_issued_total", grant_type="refresh_token", client_type="confidential") == 1
    assert counters.moved("idp_token_introspections_total", result="active") == 1
    assert counters.moved("idp_token_introspections_total", result="inactive") == 1
    assert counters.moved("idp_token_replays_total", token_type="refresh_token") == 1
    assert counters.moved("idp_token_revocations_total", token_type="access_token") == 1


def test_client_credentials_tokens_are_counted(rp, resource_server):
    counters = Counters(rp.http)

    response = rp.post("/oauth/token", *resource_server, {"grant_type": "client_credentials"})

    assert response.status_code == 200
    assert counters.moved("idp_tokens_issued_total", grant_type="client_credentials", client_type="confidential") == 1


def test_a_rate_limit_refusal_is_counted_by_route(limited_app, create_user):
    app = limited_app(LIMIT_LOGIN_IP="2 per minute")
    client = app.test_client()
    counters = Counters(client)

    statuses = [post_form(client, "/login", {"email": EMAIL, "password": "x"}).status_code for _ in range(3)]

    assert statuses[-1] == 429
    assert counters.moved("idp_rate_limited_total", route="/login") == 1
    assert counters.moved("idp_http_requests_total", route="/login", method="POST", status="429") == 1


def test_no_person_client_or_token_appears_in_the_output(app, rp, rp_client, tokens, resource_server, mailbox):
    client, secret = rp_client
    rp.introspect(*resource_server, tokens["access_token"])
    rp.refresh(client, secret, tokens["refresh_token"])

    text = rp.http.get("/metrics", headers=BEARER).get_data(as_text=True)

    for value in (EMAIL, "@", client.client_id, secret, resource_server[0].client_id, TOKEN):
        assert value not in text
    for name in ("access_token", "refresh_token", "id_token"):
        assert tokens[name] not in text


def test_signing_key_age_is_reported_per_algorithm(rp, tokens):
    families = {f.name: f for f in text_string_to_metric_families(rp.http.get("/metrics", headers=BEARER).get_data(as_text=True))}

    ages = {sample.labels["algorithm"]: sample.value for sample in families["idp_signing_key_age_seconds"].samples}
    assert set(ages) == {"ES256", "RS256"}
    assert all(0 <= age < 3600 for age in ages.values())


def test_mail_sends_are_counted_by_result(app, test_client, create_user, mailbox):
    create_user(email=EMAIL)
    counters = Counters(test_client)

    post_form(test_client, "/forgot-password", {"email": EMAIL}, token_from="/forgot-password")
    app.config["SMTP_PORT"] = free_port()  # nothing listens there: the next delivery fails
    post_form(test_client, "/forgot-password", {"email": EMAIL}, token_from="/forgot-password")

    assert len(mailbox.messages) == 1
    assert counters.moved("idp_mail_sends_total", result="sent") == 1
    assert counters.moved("idp_mail_sends_total", result="failed") == 1


def test_a_send_that_raises_is_counted_as_failed_and_still_raises():
    before = (SMS_SENDS.labels(result="sent")._value.get(), SMS_SENDS.labels(result="failed")._value.get())

    with counting_sends(SMS_SENDS):
        pass
    with pytest.raises(OSError), counting_sends(SMS_SENDS):
        raise OSError("gateway down")

    after = (SMS_SENDS.labels(result="sent")._value.get(), SMS_SENDS.labels(result="failed")._value.get())
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
