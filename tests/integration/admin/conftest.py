"""Console fixtures: an admin who passed the MFA challenge, in a browser of their own."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import AuthActions, csrf_from
from tests.integration.mfa.conftest import add_totp


def sign_in_with_totp(client: FlaskClient, app, user) -> None:
    totp = add_totp(app, user)
    assert AuthActions(client).login(user.email).status_code == 303
    html = client.get("/mfa/challenge").get_data(as_text=True)
    response = client.post("/mfa/challenge/totp", data={"csrf_token": csrf_from(html), "totp_code": totp.now()})
    assert response.status_code in (302, 303), response.status_code


@pytest.fixture
def admin(app, create_user):
    return create_user(email="root@example.com", is_admin=True)


@pytest.fixture
def console(app, admin) -> FlaskClient:
    """A browser signed in as the admin, with a fresh second-factor proof."""
    client = app.test_client()
    sign_in_with_totp(client, app, admin)
    return client
