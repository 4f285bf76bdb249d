"""acr_values asking for MFA: a signed-in person with a factor steps up before a code is issued."""

from __future__ import annotations

from app.core.protocol import ACR_MFA, ACR_PASSWORD
from tests.integration.mfa.conftest import add_totp
from tests.integration.oauth.conftest import Issued, params_of, verify_jwt


def test_asking_for_mfa_sends_a_password_only_session_to_the_challenge(app, rp, user, rp_client):
    client, _ = rp_client
    rp.auth.login(user.email)
    add_totp(app, user)  # the factor arrives after this session signed in with the password alone

    response = rp.authorize(rp.request(client, acr_values=ACR_MFA))

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/mfa/challenge")


def test_with_prompt_none_a_needed_step_up_is_interaction_required(app, rp, user, rp_client):
    client, _ = rp_client
    rp.auth.login(user.email)
    add_totp(app, user)
    pending = rp.request(client, acr_values=ACR_MFA, prompt="none")

    location = params_of(rp.authorize(pending))

    assert location["error"] == "interaction_required"
    assert location["state"] == pending.params["state"]
    assert "code" not in location


def test_a_person_without_a_factor_gets_tokens_that_say_password_only(rp, user, rp_client):
    client, secret = rp_client

    tokens = rp.tokens(client, secret, user, acr_values=ACR_MFA)

    claims = verify_jwt(rp.http, tokens["id_token"], ["RS256"]).claims
    assert claims["acr"] == ACR_PASSWORD and claims["amr"] == ["pwd"]


def test_other_acr_values_do_not_ask_for_a_second_factor(app, rp, user, rp_client):
    client, _ = rp_client
    rp.auth.login(user.email)
    add_totp(app, user)

    response = rp.authorize(rp.request(client, acr_values=ACR_PASSWORD))

    assert response.status_code == 302 and "code" in params_of(response)


def test_after_the_step_up_the_id_token_says_mfa(app, rp, user, rp_client):
    from tests.conftest import csrf_from

    client, secret = rp_client
    rp.auth.login(user.email)
    totp = add_totp(app, user)
    pending = rp.request(client, acr_values=ACR_MFA)
    assert rp.authorize(pending).headers["Location"].endswith("/mfa/challenge")
    token = csrf_from(rp.http.get("/mfa/challenge").get_data(as_text=True))

    back = rp.http.post("/mfa/challenge/totp", data={"csrf_token": token, "totp_code": totp.now()})
    assert back.status_code == 303 and "/oauth/authorize?" in back.headers["Location"]
    issued = params_of(rp.http.get(back.headers["Location"]))
    response = rp.redeem(client, secret, Issued(issued["code"], pending.verifier, pending.params["redirect_uri"]))

    claims = verify_jwt(rp.http, response.get_json()["id_token"], ["RS256"]).claims
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["nonce"] == pending.params["nonce"]
