"""The factor registry: the factory registers the factors, enrolment is read once, and reset, export and
the console's list come from the factors' own plugins."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core import factors
from app.core.audit import Origin
from app.extensions import db
from app.mfa import recovery, totp
from app.mfa.plugins import FACTORS
from app.models import PhoneFactor, RecoveryCode, SmsCode, TotpFactor, User, WebAuthnChallenge, WebAuthnCredential
from app.models.base import utcnow
from app.models.mfa import ChallengePurpose
from tests.conftest import statements_recorded

ORIGIN = Origin(ip_address="127.0.0.1", user_agent="pytest")
AT = 1_900_000_005.0


def with_totp(user: User) -> None:
    secret = totp.start_totp_enrolment(user)
    assert totp.confirm_totp_enrolment(user, pyotp.TOTP(secret).at(AT), origin=ORIGIN, at=AT)
    db.session.commit()


def credential(user: User, *, name: str = "Desk key", passkey: bool = False) -> WebAuthnCredential:
    return WebAuthnCredential(
        user_id=user.id,
        credential_id=f"cred-{user.id}-{name}",
        public_key=b"key",
        sign_count=0,
        transports=[],
        name=name,
        is_passkey=passkey,
        backed_up=False,
    )


def with_everything(user: User) -> None:
    """One row in every factor table, recovery codes included."""
    with_totp(user)
    now = utcnow()
    db.session.add_all(
        [
            credential(user),
            WebAuthnChallenge(
                id="ch-1",
                challenge=b"x" * 32,
                purpose=ChallengePurpose.REGISTER,
                user_id=user.id,
                expires_at=now + timedelta(minutes=5),
            ),
            PhoneFactor(user_id=user.id, phone_e164="+15555550100", verified_at=now),
        ]
    )
    db.session.commit()
    recovery.generate_recovery_codes(user, origin=ORIGIN)
    db.session.commit()


def rows_of(user: User, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.user_id == user.id))


def test_the_factory_registers_every_factor_in_display_order(app):
    assert [plugin.kind for plugin in factors.plugins()] == ["totp", "webauthn", "sms", "recovery"]
    assert factors.plugins() == sorted(FACTORS, key=lambda plugin: plugin.order)


def test_an_app_built_without_the_factors_knows_none():
    bare = Flask("bare")
    factors.init_factors(bare, [])
    with bare.app_context():
        assert factors.plugins() == []


def test_enrolment_is_read_with_one_query_and_remembered_until_the_session_writes(create_user):
    ada = create_user(email="ada@example.com")
    db.session.commit()
    assert ada.email  # reload the row the commit expired, outside the count
    with statements_recorded() as statements:
        assert not factors.has_mfa(ada)
        assert not factors.has_mfa(ada) and factors.enrolled_factor_kinds(ada) == []
    assert len(statements) == 1

    with_totp(ada)  # the enrolment writes: what was remembered is forgotten
    assert ada.email  # reload the row the commit expired, outside the count
    with statements_recorded() as statements:
        assert factors.has_mfa(ada) and factors.enrolled_factor_kinds(ada) == ["totp"]
        assert factors.has_mfa(ada)
    assert len(statements) == 1


def test_a_bulk_delete_forgets_what_was_remembered(create_user):
    ada = create_user(email="ada@example.com")
    with_totp(ada)
    assert factors.has_mfa(ada)
    db.session.execute(TotpFactor.__table__.delete().where(TotpFactor.user_id == ada.id))
    assert not factors.has_mfa(ada)


def test_recovery_codes_alone_are_not_a_second_factor(create_user):
    ada = create_user(email="ada@example.com")
    db.session.add(RecoveryCode(user_id=ada.id, code_digest="d" * 64))
    db.session.commit()
    assert factors.enrolled_factor_kinds(ada) == []


def test_the_sql_rule_and_the_python_rule_agree(create_user):
    ada, bob = create_user(email="ada@example.com"), create_user(email="bob@example.com")
    with_totp(ada)
    with_mfa = set(db.session.scalars(select(User.email).where(factors.any_factor_enrolled())))
    assert with_mfa == {"ada@example.com"} and not factors.has_mfa(bob)


def test_deleting_every_factor_empties_every_factor_table_of_that_person_only(create_user):
    ada, bob = create_user(email="ada@example.com"), create_user(email="bob@example.com")
    with_everything(ada)
    with_totp(bob)
    db.session.add(
        SmsCode(user_id=ada.id, phone_e164="+15555550100", purpose="signin", code_digest="c" * 64, expires_at=utcnow())
    )
    db.session.commit()

    deleted = factors.delete_all_factors(ada)

    assert deleted["recovery"] == recovery.CODE_COUNT and deleted["totp"] == 1 and deleted["webauthn"] == 1
    for plugin in factors.plugins():
        for table in plugin.tables:
            assert rows_of(ada, table) == 0, table.__tablename__
    assert not factors.has_mfa(ada) and factors.has_mfa(bob)


def test_removing_the_last_factor_drops_the_recovery_codes_that_stood_in_for_it(create_user):
    ada = create_user(email="ada@example.com")
    with_totp(ada)
    recovery.generate_recovery_codes(ada, origin=ORIGIN)
    db.session.commit()
    assert totp.remove_totp(ada, origin=ORIGIN)
    assert rows_of(ada, RecoveryCode) == 0


def test_the_export_and_the_console_come_from_the_plugins(create_user):
    ada = create_user(email="ada@example.com")
    with_everything(ada)

    exported = factors.export_factors(ada)
    assert list(exported) == ["authenticator_app", "security_keys", "phone", "recovery_codes_remaining"]
    assert exported["security_keys"][0]["name"] == "Desk key" and exported["phone"]["number"] == "+15555550100"
    assert exported["recovery_codes_remaining"] == recovery.CODE_COUNT
    assert "secret" not in str(exported).lower() and "digest" not in str(exported).lower()

    described = factors.describe_factors(ada)
    assert [info.kind for info in described] == ["Authenticator app", "Security key", "Text message"]


@pytest.mark.parametrize("kind", ["totp", "webauthn", "sms"])
def test_each_second_factor_counts_alone(create_user, kind):
    ada = create_user(email="ada@example.com")
    if kind == "totp":
        with_totp(ada)
    elif kind == "webauthn":
        db.session.add(credential(ada, passkey=True))
    else:
        db.session.add(PhoneFactor(user_id=ada.id, phone_e164="+15555550100", verified_at=utcnow()))
    db.session.commit()
    assert factors.enrolled_factor_kinds(ada) == [kind]


def test_a_factor_added_in_this_transaction_counts_before_the_commit(create_user):
    ada = create_user(email="ada@example.com")
    assert not factors.has_mfa(ada)
    db.session.add(PhoneFactor(user_id=ada.id, phone_e164="+15555550100", verified_at=utcnow()))
    db.session.flush()
    assert factors.has_mfa(ada)
