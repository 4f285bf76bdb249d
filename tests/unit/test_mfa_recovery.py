"""Recovery codes: shape and entropy, normalisation, digests only, single use, regeneration."""

from __future__ import annotations

import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from sqlalchemy import select, update

from app.core.audit import Origin
from app.core.crypto import seal
from app.core.factors import has_mfa
from app.extensions import db
from app.mfa import recovery
from app.models import AuditEvent, RecoveryCode, TotpFactor, User
from app.models.base import utcnow
from app.security import token_digest
from tests.conftest import audit_types

ORIGIN = Origin(ip_address="192.0.2.1", user_agent="pytest")
SHOWN = re.compile(r"^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$")


def add_totp(app, user: User) -> None:
    """A confirmed authenticator app, written directly: the real factor recovery codes stand beside."""
    sealed = seal(pyotp.random_base32().encode(), secret=app.config["SECRET_KEY"], purpose="totp", context=f"user:{user.id}")
    db.session.add(TotpFactor(user_id=user.id, secret_encrypted=sealed, confirmed_at=utcnow()))
    db.session.commit()


@pytest.fixture
def ada(app, create_user):
    """A person with a real factor (a confirmed authenticator app), so codes may be made."""
    user = create_user(email="ada@example.com")
    add_totp(app, user)
    return user


def generate(user) -> list[str]:
    codes = recovery.generate_recovery_codes(user, origin=ORIGIN)
    db.session.commit()
    return codes


def rows_of(user) -> list[RecoveryCode]:
    return list(db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))


# --- shape, entropy, normalisation ---


def test_each_code_carries_at_least_64_bits_from_an_unambiguous_alphabet():
    assert len(set(recovery.CODE_ALPHABET)) == len(recovery.CODE_ALPHABET)
    assert not set(recovery.CODE_ALPHABET) & set("ilo01IO")
    assert recovery.CODE_LENGTH * math.log2(len(recovery.CODE_ALPHABET)) >= 64


def test_new_codes_use_the_whole_alphabet_and_never_repeat():
    codes = [recovery.new_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == recovery.CODE_LENGTH for code in codes)
    assert set("".join(codes)) == set(recovery.CODE_ALPHABET)


@pytest.mark.parametrize(
    "typed",
    [
        "abcd-efgh-jkmn-pqrs",
        "ABCD-EFGH-JKMN-PQRS",
        "abcdefghjkmnpqrs",
        " abcd efgh jkmn pqrs ",
        "Abcd -\tefgh-JKMN pqrs\n",
        "ab-cd-ef-gh-jk-mn-pq-rs",
    ],
)
def test_codes_are_normalised_ignoring_case_dashes_and_spaces(typed):
    assert recovery.normalize_code(typed) == "abcdefghjkmnpqrs"


@pytest.mark.parametrize(
    "typed",
    [
        None,
        "",
        "abcd-efgh-jkmn-pqr",
        "abcd-efgh-jkmn-pqrst",
        "abcd-efgh-jkmn-pqr1",  # 1 is not in the alphabet
        "abcd_efgh_jkmn_pqrs",
        "a" * 65,
        "ａｂｃｄefghjkmnpqrs",  # full-width letters
    ],
)
def test_anything_else_is_not_a_code(typed):
    assert recovery.normalize_code(typed) is None


def test_codes_are_shown_in_four_groups_of_four():
    assert recovery.format_code("abcdefghjkmnpqrs") == "abcd-efgh-jkmn-pqrs"


# --- generation ---


def test_ten_codes_are_made_and_only_their_digests_are_stored(ada):
    codes = generate(ada)

    assert len(codes) == recovery.CODE_COUNT == 10 and len(set(codes)) == 10
    assert all(SHOWN.match(code) for code in codes)
    rows = rows_of(ada)
    assert sorted(row.code_digest for row in rows) == sorted(token_digest(recovery.normalize_code(c)) for c in codes)
    stored = " ".join(f"{row.code_digest} {row.used_at}" for row in rows)
    for code in codes:
        assert code not in stored and recovery.normalize_code(code) not in stored
    assert all(row.used_at is None for row in rows)


def test_generation_is_audited_with_the_count_and_no_code(ada):
    codes = generate(ada)

    assert audit_types(ada)[-1] == "mfa.recovery_codes_generated"
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.details == {"count": 10}
    assert not any(recovery.normalize_code(code) in str(event.details) for code in codes)


def test_codes_alone_are_not_a_factor_so_none_are_made_without_one(create_user):
    user = create_user(email="bob@example.com")

    with pytest.raises(recovery.RecoveryCodesUnavailable):
        recovery.generate_recovery_codes(user, origin=ORIGIN)

    assert rows_of(user) == []
    assert not has_mfa(user)


def test_regenerating_invalidates_every_old_code(ada):
    old = generate(ada)
    recovery.use_recovery_code(ada, old[0], origin=ORIGIN)
    db.session.commit()

    new = generate(ada)

    assert not set(old) & set(new)
    assert len(rows_of(ada)) == 10 and recovery.remaining_recovery_codes(ada) == 10
    for code in old:
        assert recovery.use_recovery_code(ada, code, origin=ORIGIN) is None
    assert recovery.use_recovery_code(ada, new[0], origin=ORIGIN) == 9


# --- use ---


def test_a_code_works_once_in_any_spelling(ada):
    codes = generate(ada)

    assert recovery.use_recovery_code(ada, codes[3].upper().replace("-", " "), origin=ORIGIN) == 9
    db.session.commit()

    assert recovery.use_recovery_code(ada, codes[3], origin=ORIGIN) is None
    assert recovery.remaining_recovery_codes(ada) == 9
    assert audit_types(ada).count("mfa.recovery_code_used") == 1
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.event_type == "mfa.recovery_code_used" and event.details == {"remaining": 9}


def test_wrong_and_malformed_codes_spend_nothing(ada):
    generate(ada)

    for typed in ("abcd-efgh-jkmn-pqrs", "", None, "not a code at all", "x" * 500):
        assert recovery.use_recovery_code(ada, typed, origin=ORIGIN) is None

    assert recovery.remaining_recovery_codes(ada) == 10
    assert "mfa.recovery_code_used" not in audit_types(ada)


def test_another_persons_code_does_not_work(app, ada, create_user):
    bob = create_user(email="bob@example.com")
    add_totp(app, bob)
    bobs = generate(bob)
    generate(ada)

    assert recovery.use_recovery_code(ada, bobs[0], origin=ORIGIN) is None
    assert recovery.remaining_recovery_codes(bob) == 10


def test_a_code_spent_behind_the_loaded_state_is_refused(ada):
    """The UPDATE itself checks used_at, not a value read earlier: what makes a race give one success."""
    codes = generate(ada)
    digest = token_digest(recovery.normalize_code(codes[0]))
    rows_of(ada)  # loaded, unused, in this session
    db.session.execute(update(RecoveryCode).where(RecoveryCode.code_digest == digest).values(used_at=db.func.now()))

    assert recovery.use_recovery_code(ada, codes[0], origin=ORIGIN) is None


def test_the_count_and_challenge_offer_follow_unused_codes(ada):
    assert not recovery.has_recovery_codes(ada) and recovery.remaining_recovery_codes(ada) == 0
    codes = generate(ada)
    assert recovery.has_recovery_codes(ada)

    for code in codes:
        recovery.use_recovery_code(ada, code, origin=ORIGIN)

    assert recovery.remaining_recovery_codes(ada) == 0 and not recovery.has_recovery_codes(ada)


def test_delete_recovery_codes_removes_the_persons_codes_only(app, ada, create_user):
    bob = create_user(email="bob@example.com")
    add_totp(app, bob)
    generate(bob)
    generate(ada)

    assert recovery.delete_recovery_codes(ada) == 10
    db.session.commit()

    assert rows_of(ada) == [] and len(rows_of(bob)) == 10


@pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="parallel transactions need PostgreSQL (in-memory SQLite gives every session the same connection)",
)
def test_parallel_uses_of_one_code_succeed_once(app, ada):
    code = generate(ada)[0]
    user_id = ada.id
    workers = 8
    barrier = threading.Barrier(workers)

    def attempt(_: int) -> int | None:
        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait(timeout=10)
            remaining = recovery.use_recovery_code(user, code, origin=ORIGIN)
            db.session.commit()
            return remaining

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(attempt, range(workers)))

    assert sorted(results, key=lambda r: r is None) == [9] + [None] * (workers - 1)
    db.session.expire_all()
    assert recovery.remaining_recovery_codes(ada) == 9
    assert audit_types(ada).count("mfa.recovery_code_used") == 1
