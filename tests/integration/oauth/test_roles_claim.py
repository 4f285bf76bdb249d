"""The roles and groups claims: only for clients enabled for them and grants holding the roles scope."""

from __future__ import annotations

import pytest

from app.core import rbac
from app.core.audit import Origin
from app.core.protocol import CLAIMS_SUPPORTED
from app.core.scopes import describe_scope
from app.extensions import db
from tests.conftest import csrf_from
from tests.integration.mfa.conftest import add_totp
from tests.integration.oauth.conftest import verify_jwt

OPERATOR = Origin(user_agent="test")
WITH_ROLES = "openid profile email roles offline_access"


@pytest.fixture
def ada(create_user):
    return create_user(email="ada@example.com")


@pytest.fixture
def holdings(ada):
    """ada holds "support" herself and "billing:read" through the group "finance"; "unused" is nobody's."""
    support = rbac.create_role("support", "", actor=None, origin=OPERATOR)
    billing = rbac.create_role("billing:read", "", actor=None, origin=OPERATOR)
    rbac.create_role("unused", "", actor=None, origin=OPERATOR)
    finance = rbac.create_group("finance", "", actor=None, origin=OPERATOR)
    rbac.assign_role(support, ada, actor=None, origin=OPERATOR)
    rbac.add_member(finance, ada, actor=None, origin=OPERATOR)
    rbac.add_group_role(finance, billing, actor=None, origin=OPERATOR)
    rbac.create_group("empty", "", actor=None, origin=OPERATOR)
    db.session.commit()
    return {"support": support, "billing": billing, "finance": finance}


@pytest.fixture
def enabled(create_oauth_client):
    return create_oauth_client(name="Intranet", is_first_party=True, scope=WITH_ROLES, roles_claim=True)


def all_three(rp, client, secret, user, scope: str = WITH_ROLES) -> dict[str, dict]:
    """The claims of the ID token, the access token and the userinfo answer of one code flow."""
    tokens = rp.tokens(client, secret, user, scope=scope)
    return {
        "id_token": dict(verify_jwt(rp.http, tokens["id_token"]).claims),
        "access_token": dict(verify_jwt(rp.http, tokens["access_token"]).claims),
        "userinfo": rp.userinfo(tokens["access_token"]).get_json(),
        "refresh_token": tokens["refresh_token"],
    }


def test_an_enabled_client_asking_for_roles_gets_effective_roles_and_groups_everywhere(rp, ada, holdings, enabled, subtests):
    client, secret = enabled
    claims = all_three(rp, client, secret, ada)

    for where in ("id_token", "access_token", "userinfo"):
        with subtests.test(where):
            assert claims[where]["roles"] == ["billing:read", "support"]  # direct plus the group's, sorted
            assert claims[where]["groups"] == ["finance"]


def test_admins_carry_the_built_in_admin_role(app, rp, create_user, enabled):
    client, secret = enabled
    root = create_user(email="root@example.com", is_admin=True)
    totp = add_totp(app, root)  # an admin signs in with a second factor
    rp.auth.login(root.email)
    html = rp.http.get("/mfa/challenge").get_data(as_text=True)
    rp.http.post("/mfa/challenge/totp", data={"csrf_token": csrf_from(html), "totp_code": totp.now()})
    claims = all_three(rp, client, secret, None)

    assert claims["id_token"]["roles"] == ["admin"] and claims["id_token"]["groups"] == []


def test_no_roles_claims_without_the_roles_scope(rp, ada, holdings, enabled, subtests):
    client, secret = enabled
    claims = all_three(rp, client, secret, ada, scope="openid profile email")

    for where in ("id_token", "access_token", "userinfo"):
        with subtests.test(where):
            assert "roles" not in claims[where] and "groups" not in claims[where]


def test_no_roles_claims_for_a_client_not_enabled_even_with_the_roles_scope(rp, ada, holdings, create_oauth_client, subtests):
    client, secret = create_oauth_client(name="Shop", is_first_party=True, scope=WITH_ROLES)
    claims = all_three(rp, client, secret, ada)

    assert "roles" in claims["access_token"]["scope"].split()  # the scope was granted ...
    for where in ("id_token", "access_token", "userinfo"):
        with subtests.test(where):
            assert "roles" not in claims[where] and "groups" not in claims[where]  # ... but nothing released


def test_a_removed_role_is_gone_from_the_next_token(rp, ada, holdings, enabled):
    client, secret = enabled
    first = all_three(rp, client, secret, ada)
    rbac.unassign_role(holdings["support"], ada, actor=None, origin=OPERATOR)
    rbac.remove_member(holdings["finance"], ada, actor=None, origin=OPERATOR)
    db.session.commit()

    refreshed = rp.refresh(client, secret, first["refresh_token"])

    assert refreshed.status_code == 200
    claims = verify_jwt(rp.http, refreshed.get_json()["access_token"]).claims
    assert claims["roles"] == [] and claims["groups"] == []
    assert rp.userinfo(refreshed.get_json()["access_token"]).get_json()["roles"] == []
    again = all_three(rp, client, secret, None)["id_token"]  # still signed in: a fresh code flow
    assert again["roles"] == [] and again["groups"] == []


def test_a_deleted_role_disappears_and_a_new_group_role_appears(rp, ada, holdings, enabled):
    client, secret = enabled
    rbac.delete_role(holdings["billing"], actor=None, origin=OPERATOR)
    ops = rbac.create_role("ops", "", actor=None, origin=OPERATOR)
    rbac.add_group_role(holdings["finance"], ops, actor=None, origin=OPERATOR)
    db.session.commit()

    assert all_three(rp, client, secret, ada)["id_token"]["roles"] == ["ops", "support"]


def test_the_roles_scope_is_described_and_its_claims_advertised(test_client):
    assert describe_scope("roles") == "See your roles and groups"
    metadata = test_client.get("/.well-known/openid-configuration").get_json()
    assert "roles" in metadata["scopes_supported"]
    assert {"roles", "groups"} <= set(metadata["claims_supported"]) and {"roles", "groups"} <= set(CLAIMS_SUPPORTED)


def test_the_consent_page_shows_the_roles_scope_in_plain_words(rp, ada, create_oauth_client):
    client, _ = create_oauth_client(name="Partner", scope=WITH_ROLES, roles_claim=True)
    rp.auth.login(ada.email)

    page = rp.authorize(rp.request(client, scope="openid roles"))

    assert page.status_code == 200 and "See your roles and groups" in page.get_data(as_text=True)


def test_the_consent_page_shows_a_custom_scopes_description(rp, ada, create_oauth_client):
    rbac.create_scope("invoices:read", "Read your invoices", actor=None, origin=OPERATOR)
    db.session.commit()
    client, _ = create_oauth_client(name="Billing", scope="openid invoices:read")
    rp.auth.login(ada.email)

    page = rp.authorize(rp.request(client, scope="openid invoices:read"))

    assert page.status_code == 200 and "Read your invoices" in page.get_data(as_text=True)
