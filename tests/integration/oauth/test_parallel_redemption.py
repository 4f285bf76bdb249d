"""Parallel use of single-use artefacts: one code or refresh token, N simultaneous redemptions, one success.

Real concurrent transactions are needed, so these run on PostgreSQL only (in-memory SQLite shares one
connection between every session).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, RefreshToken
from tests.integration.oauth.conftest import count_rows

pytestmark = pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (set IDP_TEST_DATABASE_URL)",
)

N = 8


def in_parallel(clients: list[FlaskClient], send: Callable[[FlaskClient], object]) -> list:
    """One request per client (each request runs in its own app context and DB session), released together."""
    barrier = threading.Barrier(len(clients))

    def run(client: FlaskClient):
        barrier.wait(timeout=10)
        return send(client)

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, clients))


@pytest.fixture
def rp_client(create_oauth_client):
    return create_oauth_client()


def outcome(response) -> tuple[int, str | None]:
    body = response.get_json(silent=True) or {}
    return response.status_code, body.get("error")


def test_parallel_redemptions_of_one_code_succeed_exactly_once(app, rp, user, rp_client):
    client, secret = rp_client
    issued = rp.code(client, user)
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
    }
    clients = [app.test_client() for _ in range(N)]

    responses = in_parallel(clients, lambda c: c.post("/oauth/token", data=data, auth=(client.client_id, secret)))

    outcomes = sorted(outcome(r) for r in responses)
    assert outcomes == [(200, None)] + [(400, "invalid_grant")] * (N - 1), outcomes
    assert count_rows(RefreshToken) == 1
    assert db.session.scalar(select(func.count()).where(AuditEvent.event_type == "oauth.token_issued")) == 1


def test_parallel_refreshes_of_one_refresh_token_succeed_exactly_once(app, rp, user, rp_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    clients = [app.test_client() for _ in range(N)]

    responses = in_parallel(clients, lambda c: c.post("/oauth/token", data=data, auth=(client.client_id, secret)))

    outcomes = sorted(outcome(r) for r in responses)
    assert outcomes == [(200, None)] + [(400, "invalid_grant")] * (N - 1), outcomes
    assert count_rows(RefreshToken) == 2  # the original and exactly one rotation
    # Losing racers used an already-rotated token: the family is revoked, the winner's token included.
    winner = next(r.get_json() for r in responses if r.status_code == 200)
    assert rp.refresh(client, secret, winner["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_parallel_revocations_of_one_refresh_token_all_answer_200(app, rp, user, rp_client):
    client, secret = rp_client
    tokens = rp.tokens(client, secret, user)
    clients = [app.test_client() for _ in range(N)]

    responses = in_parallel(
        clients, lambda c: c.post("/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=(client.client_id, secret))
    )

    assert [r.status_code for r in responses] == [200] * N
    assert rp.refresh(client, secret, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_parallel_replays_of_a_used_code_revoke_without_errors(app, rp, user, rp_client):
    client, secret = rp_client
    issued = rp.code(client, user)
    first = rp.redeem(client, secret, issued).get_json()
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
    }
    clients = [app.test_client() for _ in range(N)]

    responses = in_parallel(clients, lambda c: c.post("/oauth/token", data=data, auth=(client.client_id, secret)))

    assert sorted(outcome(r) for r in responses) == [(400, "invalid_grant")] * N
    assert rp.userinfo(first["access_token"]).status_code == 401
