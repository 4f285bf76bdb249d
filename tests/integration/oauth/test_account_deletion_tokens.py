"""After an account is deleted, nothing it was issued works: refresh and access tokens are dead everywhere."""

from __future__ import annotations

from tests.conftest import csrf_from


def delete_account(http, email: str) -> None:
    token = csrf_from(http.get("/account/delete").get_data(as_text=True))
    response = http.post("/account/delete", data={"csrf_token": token, "confirm_email": email})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def introspect(rp, resource_server, token: str) -> dict:
    response = rp.introspect(*resource_server, token)
    assert response.status_code == 200
    return response.get_json()


def test_refresh_tokens_are_inactive_and_refused_after_deletion(rp, user, rp_client, tokens, resource_server):
    client, secret = rp_client
    assert introspect(rp, resource_server, tokens["refresh_token"])["active"] is True

    delete_account(rp.http, user.email)

    assert introspect(rp, resource_server, tokens["refresh_token"]) == {"active": False}
    refused = rp.refresh(client, secret, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


def test_access_tokens_are_inactive_and_refused_at_userinfo_after_deletion(rp, user, tokens, resource_server):
    assert rp.userinfo(tokens["access_token"]).status_code == 200

    delete_account(rp.http, user.email)

    assert introspect(rp, resource_server, tokens["access_token"]) == {"active": False}
    assert rp.userinfo(tokens["access_token"]).status_code == 401


def test_an_access_token_issued_without_a_refresh_token_dies_too(rp, user, create_oauth_client, resource_server):
    # No refresh grant: the access token is recorded nowhere but on its code and in the audit trail.
    client, secret = create_oauth_client(is_first_party=True, grant_types=["authorization_code"])
    issued = rp.tokens(client, secret, user)
    assert "refresh_token" not in issued

    delete_account(rp.http, user.email)

    assert introspect(rp, resource_server, issued["access_token"]) == {"active": False}
    assert rp.userinfo(issued["access_token"]).status_code == 401


def test_a_new_account_with_the_same_address_never_sees_the_old_tokens_work(rp, app, user, tokens, resource_server):
    delete_account(rp.http, user.email)
    token = csrf_from(rp.http.get("/register").get_data(as_text=True))
    form = {"csrf_token": token, "email": user.email, "password": "violet tractor sunrise marble"}
    assert rp.http.post("/register", data=form).status_code == 200

    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert introspect(rp, resource_server, tokens["refresh_token"]) == {"active": False}
