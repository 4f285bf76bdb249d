"""The token endpoint's transaction is retried when the database aborts it for deadlock or serialization (issue 13)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from app.core import transactions
from app.core.transactions import TransactionAborted, is_retryable, run_with_retry
from app.models import RefreshToken
from app.oauth import grants
from tests.integration.oauth.conftest import count_rows


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def aborted(sqlstate: str) -> OperationalError:
    return OperationalError("UPDATE ...", {}, _DriverError(sqlstate))


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialization_failure_runs_the_work_again(app, sqlstate):
    calls = []

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise aborted(sqlstate)
        return "done"

    assert run_with_retry(work) == "done"
    assert len(calls) == 3


def test_other_database_errors_are_not_retried(app):
    calls = []

    def work():
        calls.append(1)
        raise IntegrityError("INSERT ...", {}, _DriverError("23505"))

    with pytest.raises(IntegrityError):
        run_with_retry(work)
    assert len(calls) == 1 and not is_retryable(IntegrityError("x", {}, _DriverError("23505")))


def test_the_attempts_are_bounded(app):
    calls = []

    def work():
        calls.append(1)
        raise aborted("40P01")

    with pytest.raises(TransactionAborted):
        run_with_retry(work)
    assert len(calls) == transactions.ATTEMPTS


def test_the_token_endpoint_answers_503_json_when_every_attempt_is_aborted(app, rp, user, rp_client, monkeypatch):
    client, secret = rp_client
    issued = rp.code(client, user)

    def always_aborted(self):
        raise aborted("40P01")

    monkeypatch.setattr(grants.AuthorizationCodeGrant, "create_token_response", always_aborted)
    response = rp.redeem(client, secret, issued)

    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"] == "1"


def test_a_redemption_aborted_once_runs_again_from_scratch(app, rp, user, rp_client, monkeypatch):
    client, secret = rp_client
    rp.tokens(client, secret, user)  # the key ring's first load commits its new keys: done before the test
    issued = rp.code(client)
    real = grants.AuthorizationCodeGrant.create_token_response
    calls = []

    def aborted_once(self):
        calls.append(1)
        answer = real(self)  # the whole redemption: the code consumed, tokens and audit written
        if len(calls) == 1:
            raise aborted("40P01")  # ... then aborted before the commit: all of it rolls back
        return answer

    monkeypatch.setattr(grants.AuthorizationCodeGrant, "create_token_response", aborted_once)
    response = rp.redeem(client, secret, issued)

    assert response.status_code == 200, response.get_json()
    assert len(calls) == 2
    assert (
        count_rows(RefreshToken) == 2
    )  # the warm-up's and one: the first attempt's tokens were rolled back, not kept beside the second's
    assert rp.userinfo(response.get_json()["access_token"]).status_code == 200
