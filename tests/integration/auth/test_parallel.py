"""Parallel requests: every guess is counted, and a single-use link succeeds exactly once.

These need real concurrent transactions, so they run on PostgreSQL only: in-memory SQLite gives
every session the same connection.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient

from app.models import AuditEvent, EmailTokenPurpose
from app.security import verify_password
from tests.conftest import DEFAULT_PASSWORD
from tests.integration.auth.helpers import count, csrf, issue_token, reload, sessions_of, tokens_of

pytestmark = pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (set IDP_TEST_DATABASE_URL)",
)

N = 8
EMAIL = "ada@example.com"


def in_parallel(clients: list[FlaskClient], request: Callable[[int, FlaskClient], int]) -> list[int]:
    """Send one request per client, all released at once; returns the status codes."""
    barrier = threading.Barrier(len(clients))

    def run(index: int) -> int:
        barrier.wait(timeout=10)
        return request(index, clients[index])

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, range(len(clients))))


def test_parallel_wrong_passwords_are_all_counted_and_lock_the_account(app, create_user):
    user = create_user(email=EMAIL)
    clients = [app.test_client() for _ in range(N)]
    tokens = [csrf(client) for client in clients]

    def guess(i: int, client: FlaskClient) -> int:
        data = {"csrf_token": tokens[i], "email": EMAIL, "password": f"wrong guess number {i}"}
        return client.post("/login", data=data).status_code

    statuses = in_parallel(clients, guess)

    assert statuses == [401] * N
    user = reload(user)
    assert user.failed_login_count == N
    assert user.locked_until is not None
    assert count(AuditEvent, AuditEvent.event_type == "auth.login_failed") == N
    assert sessions_of(user) == []


def test_parallel_uses_of_one_reset_link_succeed_once(app, create_user, mailbox):
    user = create_user(email=EMAIL)
    path = f"/reset-password/{issue_token(user, EmailTokenPurpose.RESET)}"
    clients = [app.test_client() for _ in range(N)]
    tokens = [csrf(client, path) for client in clients]
    passwords = [f"tangerine harmonica lighthouse velvet {i}" for i in range(N)]

    statuses = in_parallel(
        clients, lambda i, c: c.post(path, data={"csrf_token": tokens[i], "password": passwords[i]}).status_code
    )

    assert sorted(statuses) == [303] + [400] * (N - 1)
    winner = passwords[statuses.index(303)]
    assert verify_password(winner, reload(user).password_hash)[0]
    assert not verify_password(DEFAULT_PASSWORD, user.password_hash)[0]
    assert count(AuditEvent, AuditEvent.event_type == "auth.password_reset_completed") == 1
    assert len(mailbox.to(EMAIL)) == 1


def test_parallel_uses_of_one_verification_link_succeed_once(app, create_user):
    user = create_user(email=EMAIL, verified=False)
    path = f"/verify-email/{issue_token(user, EmailTokenPurpose.VERIFY)}"
    clients = [app.test_client() for _ in range(N)]
    tokens = [csrf(client, path) for client in clients]

    statuses = in_parallel(clients, lambda i, c: c.post(path, data={"csrf_token": tokens[i]}).status_code)

    assert sorted(statuses) == [303] + [400] * (N - 1)
    assert reload(user).email_verified_at is not None
    assert tokens_of(user, EmailTokenPurpose.VERIFY)[0].used_at is not None
    assert count(AuditEvent, AuditEvent.event_type == "auth.email_verified") == 1
