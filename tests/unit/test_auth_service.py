"""Account services without HTTP: lockout back-off, reset, single-use email tokens, audit in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.core import accounts as service
from app.core import email_tokens
from app.core.audit import Origin
from app.core.lockout import lock_delay
from app.core.sessions import SessionPolicy, find_active_session, start_session
from app.extensions import db
from app.models import AuditEvent, EmailToken, EmailTokenPurpose, User, UserSession
from app.models.base import utcnow
from app.security import token_digest, verify_password
from tests.conftest import DEFAULT_PASSWORD, audit_types

ORIGIN = Origin(ip_address="198.51.100.7", user_agent="pytest")
NEW_PASSWORD = "vivid otter plum quasar"


def fail_login(user: User) -> None:
    assert service.authenticate(user.email, "not the password at all", origin=ORIGIN) is None
    db.session.commit()


def stored(user: User) -> User:
    """The row as the database has it now, not as this session remembers it."""
    db.session.expire_all()
    return db.session.get(User, user.id)


def audit_rows(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type).order_by(AuditEvent.id)))


# --- sign-in and lockout -------------------------------------------------------------------------


def test_the_right_password_signs_in_and_records_the_login(create_user):
    user = create_user(email="ada@example.com")
    sign_in = service.authenticate("ADA@example.com ", DEFAULT_PASSWORD, origin=ORIGIN)
    db.session.commit()
    assert sign_in is not None and sign_in.user.id == user.id
    assert sign_in.user_session.token_digest == token_digest(sign_in.cookie_value)
    assert audit_types(user) == ["auth.login"]


def test_an_unknown_account_fails_like_a_wrong_password_and_is_audited(create_user):
    assert service.authenticate("nobody@example.com", DEFAULT_PASSWORD, origin=ORIGIN) is None
    db.session.commit()
    (event,) = audit_rows("auth.login_failed")
    assert event.subject_user_id is None and event.details == {"reason": "unknown_account"}


def test_failures_below_the_threshold_do_not_lock(create_user, app):
    user = create_user()
    for count in range(1, app.config["LOCKOUT_THRESHOLD"]):
        fail_login(user)
        assert stored(user).failed_login_count == count
        assert stored(user).locked_until is None


def test_lockout_starts_at_the_threshold_then_doubles_up_to_the_cap(app_factory):
    app = app_factory(LOCKOUT_THRESHOLD=3, LOCKOUT_BASE_SECONDS=60, LOCKOUT_MAX_SECONDS=900)
    with app.app_context():
        user = _make_user()
        delays = []
        for _ in range(8):
            before = utcnow()
            fail_login(user)
            after = utcnow()
            locked_until = stored(user).locked_until
            if locked_until is None:
                delays.append(None)
                continue
            # The delay is fixed by the failure count, measured from the moment of the failure.
            seconds = round((locked_until - before).total_seconds())
            assert before <= locked_until - timedelta(seconds=seconds) <= after
            delays.append(seconds)
            # Let the lock run out (no sleeping: move it into the past) so the next guess is a password check.
            db.session.execute(update(User).where(User.id == user.id).values(locked_until=utcnow() - timedelta(seconds=1)))
            db.session.commit()
        assert delays == [None, None, 60, 120, 240, 480, 900, 900]


def _make_user() -> User:
    from app.security import hash_password

    user = User(email="grace@example.com", password_hash=hash_password(DEFAULT_PASSWORD), email_verified_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user


def test_the_lockout_delay_never_grows_past_the_cap_even_after_many_failures(app):
    cap = timedelta(seconds=app.config["LOCKOUT_MAX_SECONDS"])
    assert lock_delay(app.config["LOCKOUT_THRESHOLD"] + 1000) == cap


def test_a_locked_account_refuses_even_the_right_password_and_does_not_extend_the_lock(create_user, app):
    user = create_user()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        fail_login(user)
    locked_until = stored(user).locked_until
    assert locked_until is not None

    assert service.authenticate(user.email, DEFAULT_PASSWORD, origin=ORIGIN) is None
    db.session.commit()
    assert stored(user).locked_until == locked_until
    assert audit_rows("auth.login_failed")[-1].details == {"reason": "locked"}
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0


def test_after_the_lock_expires_the_right_password_works_and_clears_the_counter(create_user, app):
    user = create_user()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        fail_login(user)
    db.session.execute(update(User).where(User.id == user.id).values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    assert service.authenticate(user.email, DEFAULT_PASSWORD, origin=ORIGIN) is not None
    db.session.commit()
    assert (stored(user).failed_login_count, stored(user).locked_until) == (0, None)


def test_the_lockout_is_audited_with_its_length(create_user, app):
    user = create_user()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        fail_login(user)
    (locked,) = audit_rows("auth.locked")
    assert locked.details == {"seconds": app.config["LOCKOUT_BASE_SECONDS"], "failures": app.config["LOCKOUT_THRESHOLD"]}


def test_a_disabled_account_cannot_sign_in_with_the_right_password(create_user):
    user = create_user(is_disabled=True)
    assert service.authenticate(user.email, DEFAULT_PASSWORD, origin=ORIGIN) is None
    db.session.commit()
    assert audit_rows("auth.login_failed")[-1].details == {"reason": "disabled"}


def test_the_failure_counter_is_incremented_in_sql_not_from_a_stale_copy(create_user):
    user = create_user()
    assert user.failed_login_count == 0
    # Another worker recorded three failures; this session's copy of the row still says 0.
    db.session.execute(
        update(User).where(User.id == user.id).values(failed_login_count=3).execution_options(synchronize_session=False)
    )
    fail_login(user)
    assert stored(user).failed_login_count == 4


def test_a_successful_sign_in_upgrades_a_hash_made_with_weaker_parameters(create_user, app):
    user = create_user()
    app.config["ARGON2_MEMORY_KIB"] = 2048
    assert service.authenticate(user.email, DEFAULT_PASSWORD, origin=ORIGIN) is not None
    db.session.commit()
    assert "$m=2048," in stored(user).password_hash


def test_a_password_registered_in_fullwidth_form_signs_in_typed_plainly(app):
    user, created = service.register_user("kim@example.com", "ｖｉｖｉｄ ｏｔｔｅｒ ｐｌｕｍ", origin=ORIGIN)
    db.session.commit()
    assert created
    assert service.authenticate("kim@example.com", "vivid otter plum", origin=ORIGIN) is not None


def test_registering_a_taken_address_in_another_case_creates_nothing(create_user):
    existing = create_user(email="lin@example.com")
    user, created = service.register_user("LIN@Example.com", NEW_PASSWORD, origin=ORIGIN)
    db.session.commit()
    assert (created, user.id) == (False, existing.id)
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert audit_types(existing) == ["auth.register_existing"]


# --- audit rows live and die with the change ----------------------------------------------------


def test_a_rolled_back_failure_leaves_neither_the_counter_nor_the_audit_row(create_user):
    user = create_user()
    assert service.authenticate(user.email, "not the password at all", origin=ORIGIN) is None
    db.session.rollback()
    assert stored(user).failed_login_count == 0
    assert audit_types() == []


def test_a_rolled_back_reset_leaves_the_password_and_writes_no_audit_row(create_user):
    user = create_user()
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.commit()
    old_hash = stored(user).password_hash

    assert service.reset_password(token, NEW_PASSWORD, origin=ORIGIN) is not None
    db.session.rollback()

    assert stored(user).password_hash == old_hash
    assert "auth.password_reset_completed" not in audit_types()
    assert email_tokens.find_email_token(token, EmailTokenPurpose.RESET) is not None  # still unused


# --- password reset ------------------------------------------------------------------------------


def test_reset_sets_the_new_password_ends_every_session_and_never_signs_in(create_user, app):
    user = create_user()
    cookies = []
    for _ in range(2):
        _row, cookie = start_session(user, origin=ORIGIN, amr=["pwd"])
        cookies.append(cookie)
    user.failed_login_count, user.locked_until = 4, utcnow() + timedelta(minutes=5)
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.commit()

    assert service.reset_password(token, NEW_PASSWORD, origin=ORIGIN).id == user.id
    db.session.commit()

    row = stored(user)
    assert verify_password(NEW_PASSWORD, row.password_hash)[0]
    assert not verify_password(DEFAULT_PASSWORD, row.password_hash)[0]
    assert (row.failed_login_count, row.locked_until) == (0, None)
    policy = SessionPolicy.from_config(app.config)
    assert all(find_active_session(cookie, policy) is None for cookie in cookies)
    assert db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.revoked_at.is_(None))) == 0
    (completed,) = audit_rows("auth.password_reset_completed")
    assert completed.details == {"sessions_ended": 2, "app_grants_ended": 0}


def test_reset_tokens_are_stored_as_digests_and_expire_within_an_hour(create_user):
    user = create_user()
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.commit()
    row = db.session.scalar(select(EmailToken))
    assert row.token_digest == token_digest(token)
    assert token not in str(db.session.execute(select(EmailToken.__table__)).one())
    assert row.expires_at - row.created_at <= timedelta(hours=1)
    assert token.startswith("reset_")


def test_a_reset_token_works_once(create_user):
    user = create_user()
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.commit()
    assert service.reset_password(token, NEW_PASSWORD, origin=ORIGIN) is not None
    db.session.commit()
    assert service.reset_password(token, "another fine passphrase", origin=ORIGIN) is None
    assert verify_password(NEW_PASSWORD, stored(user).password_hash)[0]


def test_a_token_used_by_a_parallel_request_is_refused_by_the_conditional_update(create_user):
    user = create_user()
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.commit()
    row = email_tokens.find_email_token(token, EmailTokenPurpose.RESET)
    old_hash = stored(user).password_hash
    # Another request consumed it after this one loaded the row: the in-memory copy still says unused.
    db.session.execute(
        update(EmailToken).where(EmailToken.id == row.id).values(used_at=utcnow()).execution_options(synchronize_session=False)
    )
    assert row.used_at is None

    assert service.reset_password(token, NEW_PASSWORD, origin=ORIGIN) is None
    db.session.commit()
    assert stored(user).password_hash == old_hash


def test_a_policy_breaking_new_password_is_refused_and_leaves_the_token_usable(create_user):
    user = create_user()
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.commit()
    with pytest.raises(service.PasswordRejected):
        service.reset_password(token, "short", origin=ORIGIN)
    db.session.commit()
    assert service.reset_password(token, NEW_PASSWORD, origin=ORIGIN) is not None


def test_an_expired_reset_token_is_refused(create_user):
    user = create_user()
    _user, token = service.request_password_reset(user.email, origin=ORIGIN)
    db.session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert email_tokens.find_email_token(token, EmailTokenPurpose.RESET) is None
    assert service.reset_password(token, NEW_PASSWORD, origin=ORIGIN) is None


def test_an_expired_verification_token_is_refused(create_user):
    user = create_user(verified=False)
    token = email_tokens.issue_email_token(user, EmailTokenPurpose.VERIFY)
    db.session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert service.verify_email(token, origin=ORIGIN) is None
    assert stored(user).email_verified_at is None


def test_a_token_sent_to_an_address_the_account_no_longer_uses_is_dead(create_user):
    user = create_user(verified=False)
    verify_token = email_tokens.issue_email_token(user, EmailTokenPurpose.VERIFY)
    reset_token = email_tokens.issue_email_token(user, EmailTokenPurpose.RESET)
    user.email = "changed@example.com"
    db.session.commit()
    assert service.verify_email(verify_token, origin=ORIGIN) is None
    assert service.reset_password(reset_token, NEW_PASSWORD, origin=ORIGIN) is None
    assert stored(user).email_verified_at is None


def test_a_reset_token_is_not_a_verification_token(create_user):
    user = create_user(verified=False)
    reset_token = email_tokens.issue_email_token(user, EmailTokenPurpose.RESET)
    db.session.commit()
    assert service.verify_email(reset_token, origin=ORIGIN) is None


def test_issuing_a_new_token_kills_the_older_one_of_the_same_purpose_only(create_user):
    user = create_user(verified=False)
    old_reset = email_tokens.issue_email_token(user, EmailTokenPurpose.RESET)
    verify = email_tokens.issue_email_token(user, EmailTokenPurpose.VERIFY)
    new_reset = email_tokens.issue_email_token(user, EmailTokenPurpose.RESET)
    db.session.commit()
    assert email_tokens.find_email_token(old_reset, EmailTokenPurpose.RESET) is None
    assert email_tokens.find_email_token(new_reset, EmailTokenPurpose.RESET) is not None
    assert email_tokens.find_email_token(verify, EmailTokenPurpose.VERIFY) is not None


def test_verification_marks_the_address_verified_once(create_user):
    user = create_user(verified=False)
    token = email_tokens.issue_email_token(user, EmailTokenPurpose.VERIFY)
    db.session.commit()
    assert service.verify_email(token, origin=ORIGIN).id == user.id
    db.session.commit()
    assert stored(user).email_verified_at is not None
    assert service.verify_email(token, origin=ORIGIN) is None
    assert audit_types(user).count("auth.email_verified") == 1


@pytest.mark.parametrize("token", ["", "x" * 129, "reset_" + "A" * 43])
def test_empty_oversized_and_unknown_tokens_find_nothing(create_user, token):
    create_user()
    assert email_tokens.find_email_token(token, EmailTokenPurpose.RESET) is None


def test_reset_requests_for_unknown_or_disabled_accounts_issue_nothing(create_user):
    disabled = create_user(is_disabled=True)
    assert service.request_password_reset("nobody@example.com", origin=ORIGIN) is None
    assert service.request_password_reset(disabled.email, origin=ORIGIN) is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(EmailToken)) == 0
    assert [event.details for event in audit_rows("auth.password_reset_requested")] == [{"known": False}] * 2
