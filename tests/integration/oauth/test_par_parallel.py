"""A pushed request's request_uri used by 20 parallel authorization requests: exactly one code (PostgreSQL only)."""

from __future__ import annotations

from app.models import AuthorizationCode
from tests.integration.oauth.conftest import count_rows
from tests.integration.oauth.par_helpers import push, pushed_uri
from tests.integration.oauth.test_parallel_redemption import in_parallel, pytestmark  # noqa: F401
from tests.integration.oauth.test_parallel_single_use import copies_of

WIDE = 20


def test_twenty_parallel_uses_of_one_request_uri(app, rp, user, first_party):
    client, secret = first_party
    rp.auth.login(user.email)
    _, response = push(rp, client, secret)
    query = {"client_id": client.client_id, "request_uri": pushed_uri(response)}

    responses = in_parallel(copies_of(rp.http, WIDE), lambda c: c.get("/oauth/authorize", query_string=query))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302] + [400] * (WIDE - 1), statuses
    assert all("invalid_request_uri" in r.get_data(as_text=True) for r in responses if r.status_code == 400)
    assert count_rows(AuthorizationCode) == 1
