"""Revoking everything a person holds (an admin's disable or revoke, a password reset) reaches access tokens
that have no refresh token beside them: those from a code exchange without offline access."""

from __future__ import annotations

import pytest

from app.admin.users import disable_user, revoke_tokens
from app.core import accounts as service
from app.core import email_tokens
from app.core.audit import Origin
from app.extensions import db
from app.models import EmailTokenPurpose
from tests.integration.oauth.conftest import resource_server  # noqa: F401  (fixture used by name)


def reset_by_link(user) -> None:
    token = email_tokens.issue_email_token(user, EmailTokenPurpose.RESET)
    service.reset_password(token, "a brand new passphrase for ada", origin=Origin())


ACTIONS = {
    "admin disables the account": lambda user: disable_user(user, actor=None, origin=Origin()),
    "admin revokes every app's access": lambda user: revoke_tokens(user, actor=None, origin=Origin()),
    "password reset by link": reset_by_link,
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_access_tokens_without_a_refresh_token_are_deny_listed(rp, user, create_oauth_client, resource_server, action):
    client, secret = create_oauth_client(name="Short Lived", grant_types=["authorization_code"])
    tokens = rp.tokens(client, secret, user)
    assert "refresh_token" not in tokens
    assert rp.introspect(*resource_server, tokens["access_token"]).get_json()["active"] is True

    ACTIONS[action](user)
    db.session.commit()

    assert rp.introspect(*resource_server, tokens["access_token"]).get_json()["active"] is False
    assert rp.userinfo(tokens["access_token"]).status_code == 401
