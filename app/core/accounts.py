"""Accounts and passwords: register, verify an address, sign in with a password, sign out, reset. No request objects."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from app.core.audit import Origin, record_event
from app.core.email_tokens import consume_email_token, find_email_token, issue_email_token
from app.core.factors import has_mfa
from app.core.lockout import record_failed_attempt
from app.core.password_policy import PasswordRules, normalize_password, password_problems
from app.core.revocation import revoke_user_tokens
from app.core.sessions import revoke_session, revoke_user_sessions, start_session
from app.core.sign_in import sign_in_stage
from app.core.trusted_browsers import forget_trusted_browsers
from app.extensions import db
from app.metrics import SIGN_INS, count, count_sign_in
from app.models import EmailTokenPurpose, SignInStage, User, UserSession
from app.models.base import utcnow
from app.security import hash_password, verify_password


class PasswordRejected(ValueError):
    """The password breaks the policy; ``problems`` says why, for the person."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SignIn:
    """A successful password check: the new session and the cookie value for the browser."""

    user: User
    user_session: UserSession
    cookie_value: str


# What a refused password sign-in is counted as (app/metrics.py).
SIGN_IN_FAILURES = {"password": "bad_credentials", "locked": "locked", "disabled": "disabled"}


def normalize_email(email: str) -> str:
    return email.strip()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalize_email(email).lower()))


def password_rules(user: User | None = None) -> PasswordRules:
    config = current_app.config
    with_factor = user is not None and has_mfa(user)
    min_length = config["PASSWORD_MIN_LENGTH_MFA"] if with_factor else config["PASSWORD_MIN_LENGTH"]
    return PasswordRules(min_length, config["PASSWORD_MAX_LENGTH"], config["SERVICE_NAME"])


def check_new_password(password: str, *, email: str, user: User | None = None) -> str:
    """Return the normalized password, or raise PasswordRejected with the reasons."""
    problems = password_problems(password, email=email, rules=password_rules(user))
    if problems:
        raise PasswordRejected(problems)
    return normalize_password(password)


def register_user(email: str, password: str, *, origin: Origin, display_name: str = "") -> tuple[User, bool]:
    """Create an account, or return the existing one with created=False (the caller answers alike)."""
    email = normalize_email(email)
    normalized = check_new_password(password, email=email)
    # Hash before looking the address up, so a taken address answers in the same time as a free one.
    password_hash = hash_password(normalized)
    existing = find_user_by_email(email)
    if existing is not None:
        record_event("auth.register_existing", origin=origin, subject=existing)
        return existing, False
    user = User(email=email, display_name=display_name.strip(), password_hash=password_hash)
    db.session.add(user)
    db.session.flush()
    record_event("auth.registered", origin=origin, subject=user)
    return user, True


def verify_email(token: str, *, origin: Origin) -> User | None:
    row = find_email_token(token, EmailTokenPurpose.VERIFY)
    if row is None or not consume_email_token(row):
        return None
    user = row.user
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    record_event("auth.email_verified", origin=origin, subject=user)
    return user


def authenticate(email: str, password: str, *, origin: Origin, keep_signed_in: bool = False) -> SignIn | None:
    """Check email and password; on success start a session (kept signed in, if asked). None for any failure,
    alike in shape and time."""
    now = utcnow()
    user = find_user_by_email(email)
    password = normalize_password(password)
    ok, new_hash = verify_password(password, user.password_hash if user else None)
    if user is None:
        record_event("auth.login_failed", origin=origin, reason="unknown_account")
        count(SIGN_INS, factor="password", result="unknown_account")
        return None
    if user.is_disabled or user.is_locked(now) or not ok:
        reason = "disabled" if user.is_disabled else "locked" if user.is_locked(now) else "password"
        record_failed_attempt(user, now, origin, reason)
        count(SIGN_INS, factor="password", result=SIGN_IN_FAILURES[reason])
        return None
    if new_hash:
        user.password_hash = new_hash  # parameters were raised since this hash was made
    user_session, cookie_value = start_session(user, origin=origin, amr=["pwd"], keep_signed_in=keep_signed_in)
    user_session.pending = sign_in_stage(user)  # a second factor (or its enrolment) may still be owed
    if user_session.pending != SignInStage.MFA:
        # With a challenge still owed the count stays: a known password must not reset the guesses
        # at the second factor (the challenge resets it when passed).
        user.failed_login_count = 0
        user.locked_until = None
    db.session.flush()
    if user_session.pending is None:
        record_event("auth.login", origin=origin, subject=user, session_id=user_session.id, amr=["pwd"])
    else:
        record_event("auth.password_verified", origin=origin, subject=user, session_id=user_session.id, next=user_session.pending)
    count_sign_in("password", user_session.pending)
    return SignIn(user, user_session, cookie_value)


def sign_out(user_session: UserSession, *, origin: Origin) -> int:
    """End the session and the refresh tokens issued in it; returns how many token families were revoked."""
    revoke_session(user_session, reason="signed_out")
    # An app connected through this browser loses its access with it, as on the sessions page.
    revoked = revoke_user_tokens(user_session.user, session_id=user_session.id)
    record_event("auth.logout", origin=origin, subject=user_session.user, session_id=user_session.id, app_grants_ended=revoked)
    return revoked


def request_password_reset(email: str, *, origin: Origin) -> tuple[User, str] | None:
    """Issue a reset token when the account exists and may sign in; the caller answers the same either way."""
    user = find_user_by_email(email)
    if user is None or user.is_disabled:
        record_event("auth.password_reset_requested", origin=origin, known=False)
        return None
    token = issue_email_token(user, EmailTokenPurpose.RESET)
    record_event("auth.password_reset_requested", origin=origin, subject=user, known=True)
    return user, token


def reset_password(token: str, password: str, *, origin: Origin) -> User | None:
    """Set a new password from a reset link; ends every session of the account. Never signs in."""
    row = find_email_token(token, EmailTokenPurpose.RESET)
    if row is None:
        return None
    user = row.user
    normalized = check_new_password(password, email=user.email, user=user)
    if not consume_email_token(row):
        return None
    user.password_hash = hash_password(normalized)
    user.failed_login_count = 0
    user.locked_until = None
    ended = revoke_user_sessions(user, reason="password_reset")
    forget_trusted_browsers(user, origin=origin, reason="password_reset")
    # A reset means the password may have leaked: apps connected with it lose their tokens too.
    revoked_families = revoke_user_tokens(user)
    # Receiving the link proves control of the address.
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    record_event(
        "auth.password_reset_completed", origin=origin, subject=user, sessions_ended=ended, app_grants_ended=revoked_families
    )
    return user
