"""The TOTP service: drift window, single use, sealed seeds, and what counts as a factor."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pyotp
import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update

from app.core.audit import Origin
from app.core.crypto import unseal
from app.core.factors import has_mfa
from app.extensions import db
from app.mfa import totp as service
from app.models import TotpFactor

ORIGIN = Origin(ip_address="127.0.0.1", user_agent="pytest")
NOW = 1_900_000_005.0  # 5 s into a step, so ±15 s stays inside it
STEP = 30


def enrolled(user, *, at: float = NOW) -> tuple[pyotp.TOTP, TotpFactor]:
    """A confirmed factor made through the service; the confirming code used the step before `at`'s."""
    secret = service.start_totp_enrolment(user)
    totp = pyotp.TOTP(secret)
    assert service.confirm_totp_enrolment(user, totp.at(at - 2 * STEP), origin=ORIGIN, at=at - 2 * STEP)
    db.session.commit()
    return totp, service.totp_factor(user)


def test_the_seed_has_160_bits(create_user):
    secret = service.start_totp_enrolment(create_user())

    assert len(secret) == 32 and len(pyotp.TOTP(secret).byte_secret()) == 20


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_a_code_one_step_either_side_is_accepted(create_user, drift):
    user = create_user()
    totp, _ = enrolled(user)

    assert service.check_totp(user, totp.at(NOW + drift * STEP), at=NOW)


@pytest.mark.parametrize("drift", [-2, 2, 10])
def test_a_code_two_steps_away_is_refused(create_user, drift):
    user = create_user()
    totp, _ = enrolled(user, at=NOW - 10 * STEP)
    code = totp.at(NOW + drift * STEP)
    if code in {totp.at(NOW + d * STEP) for d in (-1, 0, 1)}:
        pytest.skip("this seed happens to repeat a code inside the window")

    assert not service.check_totp(user, code, at=NOW)


def test_a_code_is_accepted_once(create_user):
    user = create_user()
    totp, factor = enrolled(user)
    code = totp.at(NOW)

    assert service.check_totp(user, code, at=NOW)
    db.session.commit()
    assert factor.last_used_step == totp.timecode(NOW)
    assert not service.check_totp(user, code, at=NOW)
    assert not service.check_totp(user, code, at=NOW + STEP)  # still inside the window a step later


def test_a_code_older_than_the_last_accepted_one_is_refused(create_user):
    user = create_user()
    totp, _ = enrolled(user)
    assert service.check_totp(user, totp.at(NOW + STEP), at=NOW)  # the app ran a step ahead

    assert not service.check_totp(user, totp.at(NOW), at=NOW)
    assert not service.check_totp(user, totp.at(NOW - STEP), at=NOW)
    assert service.check_totp(user, totp.at(NOW + 2 * STEP), at=NOW + STEP)


def test_the_confirming_code_cannot_be_used_to_sign_in(create_user):
    user = create_user()
    secret = service.start_totp_enrolment(user)
    code = pyotp.TOTP(secret).at(NOW)
    assert service.confirm_totp_enrolment(user, code, origin=ORIGIN, at=NOW)
    db.session.commit()

    assert not service.check_totp(user, code, at=NOW)


def test_a_wrong_code_changes_nothing(create_user):
    user = create_user()
    totp, factor = enrolled(user)
    step_before = factor.last_used_step
    valid = {totp.at(NOW + d * STEP) for d in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)

    assert not service.check_totp(user, wrong, at=NOW)
    db.session.expire_all()
    assert service.totp_factor(user).last_used_step == step_before


def test_the_seed_is_sealed_for_its_owner_only(app, create_user):
    user, other = create_user(), create_user()
    secret = service.start_totp_enrolment(user)
    db.session.commit()
    stored = db.session.scalar(select(TotpFactor.secret_encrypted).where(TotpFactor.user_id == user.id))

    assert secret not in stored and secret.lower() not in stored.lower()
    key = app.config["SECRET_KEY"]
    assert unseal(stored, secret=key, purpose="totp", context=f"user:{user.id}").decode() == secret
    with pytest.raises(InvalidTag):
        unseal(stored, secret=key, purpose="totp", context=f"user:{other.id}")


def test_a_seed_copied_to_another_person_does_not_verify(create_user):
    user, other = create_user(), create_user()
    totp, factor = enrolled(user)
    enrolled(other)
    copied = factor.secret_encrypted
    db.session.execute(update(TotpFactor).where(TotpFactor.user_id == other.id).values(secret_encrypted=copied))
    db.session.commit()

    with pytest.raises(InvalidTag):
        service.check_totp(other, totp.at(NOW), at=NOW)


def test_an_unconfirmed_seed_is_not_a_factor(create_user):
    user = create_user()
    secret = service.start_totp_enrolment(user)
    db.session.commit()

    assert not has_mfa(user) and not service.has_confirmed_totp(user)
    assert not service.check_totp(user, pyotp.TOTP(secret).at(NOW), at=NOW)


def test_a_wrong_confirming_code_leaves_the_seed_unconfirmed(create_user):
    user = create_user()
    secret = service.start_totp_enrolment(user)
    totp = pyotp.TOTP(secret)
    wrong = totp.at(NOW + 5 * STEP)

    assert not service.confirm_totp_enrolment(user, wrong, origin=ORIGIN, at=NOW)
    assert service.totp_factor(user).confirmed_at is None and not has_mfa(user)


def test_starting_again_replaces_the_unconfirmed_seed(create_user):
    user = create_user()
    first = service.start_totp_enrolment(user)
    second = service.start_totp_enrolment(user)
    db.session.commit()

    rows = db.session.scalars(select(TotpFactor).where(TotpFactor.user_id == user.id)).all()
    assert len(rows) == 1 and first != second
    assert not service.confirm_totp_enrolment(user, pyotp.TOTP(first).at(NOW), origin=ORIGIN, at=NOW)


def test_a_confirmed_factor_must_be_removed_before_a_new_one(create_user):
    user = create_user()
    enrolled(user)

    with pytest.raises(service.TotpAlreadyEnrolled):
        service.start_totp_enrolment(user)
    with pytest.raises(service.NoTotpSetup):
        service.confirm_totp_enrolment(user, "123456", origin=ORIGIN)
    assert service.remove_totp(user, origin=ORIGIN)
    db.session.commit()
    assert not has_mfa(user)
    assert service.start_totp_enrolment(user)


def test_removing_without_a_confirmed_factor_does_nothing(create_user):
    user = create_user()
    service.start_totp_enrolment(user)

    assert not service.remove_totp(user, origin=ORIGIN)
    assert service.totp_factor(user) is not None


def test_a_stale_read_still_lets_only_one_use_through(create_user):
    """The step is claimed by a conditional UPDATE, not by the value this request read earlier."""
    user = create_user()
    totp, factor = enrolled(user)
    stale_step = factor.last_used_step
    # Another request accepts the code and commits while this one still holds the old row.
    with db.engine.begin() as other:
        other.execute(update(TotpFactor).where(TotpFactor.id == factor.id).values(last_used_step=totp.timecode(NOW)))
    assert factor.last_used_step == stale_step

    assert not service.verify_code(factor, totp.at(NOW), at=NOW)


@pytest.fixture
def concurrent_app(app_factory, tmp_path: Path):
    """An app whose database takes real parallel connections: PostgreSQL if configured, else a SQLite file."""
    if os.environ.get("IDP_TEST_DATABASE_URL"):
        return app_factory()
    return app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'race.sqlite3'}")


def test_parallel_uses_of_one_code_give_one_success(concurrent_app, create_user):
    with concurrent_app.app_context():
        user_id = create_user().id
    with concurrent_app.app_context():
        from app.models import User

        user = db.session.get(User, user_id)
        totp, _ = enrolled(user, at=time.time())
        code = totp.now()
    both_loaded = threading.Barrier(2, timeout=10)
    results: list[bool] = []

    def use_code() -> None:
        with concurrent_app.app_context():
            factor = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id))
            both_loaded.wait()  # both requests have read the row (an old step) before either writes
            ok = service.verify_code(factor, code)
            db.session.commit()
            results.append(ok)

    threads = [threading.Thread(target=use_code) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False, True]
