"""20 parallel submissions of one right second factor, five rounds each (issue 13): one sign-in, no lockout.

The losers of the race for a single-use proof (the same TOTP step, the same recovery code) must not count
as failed attempts: the person who just signed in would otherwise find the account locked. PostgreSQL
only, like tests/integration/oauth/test_parallel_redemption.py (real concurrent transactions).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.core.audit import Origin
from app.extensions import db
from app.mfa import recovery
from app.models import AuditEvent, TotpFactor, User, UserSession
from tests.conftest import AuthActions, csrf_from
from tests.integration.oauth.test_parallel_redemption import in_parallel, pytestmark  # noqa: F401
from tests.integration.oauth.test_parallel_single_use import ROUNDS, WIDE, copies_of

EMAIL = "ada@example.com"


@pytest.fixture
def ada(create_user, with_totp):
    user = create_user(email=EMAIL)
    return user, with_totp(user)


def _race(app, path: str, field: str, code: str) -> list[str]:
    """Each answer as "status location-path": a sign-in goes on to the account, a copy whose cookie the
    winner already replaced is sent to sign in (it is signed out, no proof checked), a loser is told 409."""
    auth = AuthActions(app.test_client())  # a new browser each round: the winner's copy took the signed-in cookie
    response = auth.login(EMAIL)
    assert response.headers["Location"].endswith("/mfa/challenge")
    token = csrf_from(auth.client.get("/mfa/challenge").get_data(as_text=True))
    responses = in_parallel(copies_of(auth.client, WIDE), lambda c: c.post(path, data={"csrf_token": token, field: code}))
    return sorted(f"{r.status_code} {r.headers.get('Location', '')}" for r in responses)


def _assert_one_sign_in_and_no_failure(user: User, statuses: list[str]) -> None:
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh.failed_login_count == 0 and fresh.locked_until is None
    failures = select(func.count()).where(AuditEvent.event_type.in_(["auth.login_failed", "auth.locked"]))
    assert db.session.scalar(failures) == 0
    assert all(int(status[:3]) < 500 for status in statuses), statuses
    assert statuses.count("303 /account/") == 1, statuses  # one sign-in completed
    # Every other copy: told the sign-in was already verified, or (arriving after the cookie changed) sent to sign in.
    assert all(status.startswith("409") or status == "303 /login" for status in statuses if status != "303 /account/"), statuses
    signed_in = select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id, UserSession.pending.is_(None))
    assert db.session.scalar(signed_in) >= 1


def test_twenty_parallel_copies_of_one_totp_code(app, ada):
    user, totp = ada
    for _ in range(ROUNDS):
        # Each round may reuse the current step: forget the last used one (the race, not replay, is under test).
        db.session.execute(update(TotpFactor).where(TotpFactor.user_id == user.id).values(last_used_step=None))
        db.session.commit()

        statuses = _race(app, "/mfa/challenge/totp", "totp_code", totp.now())

        _assert_one_sign_in_and_no_failure(user, statuses)


def test_twenty_parallel_copies_of_one_recovery_code(app, ada):
    user, _ = ada
    codes = recovery.generate_recovery_codes(user, origin=Origin(ip_address="192.0.2.1", user_agent="pytest"))
    db.session.commit()
    for round_number in range(ROUNDS):
        statuses = _race(app, "/mfa/challenge/recovery", "recovery_code", codes[round_number])

        _assert_one_sign_in_and_no_failure(user, statuses)
        assert recovery.remaining_recovery_codes(user) == len(codes) - round_number - 1  # exactly one code spent
