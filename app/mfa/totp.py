"""Authenticator apps (RFC 6238 TOTP): enrolment, one-time verification, removal. No request objects here.

The 160-bit seed is sealed with a key derived from the app secret and bound to the user, and it is
opened only to check a code. A code is accepted at most once: its time step must be newer than
the last accepted one, and the step is claimed with a conditional UPDATE so two parallel uses of
the same code cannot both pass (docs/security.md "MFA and recovery"; Flask-Security's last-step check).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp
import segno
from flask import current_app
from markupsafe import Markup
from sqlalchemy import or_, select, update

from app.core.audit import Origin, record_event
from app.core.crypto import seal, unseal
from app.core.factors import forget_stand_ins_without_factor
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import TotpFactor, User
from app.models.base import utcnow
from app.security import constant_time_equals

SEED_BASE32_LENGTH = 32  # 32 base32 characters = 160 bits (RFC 4226 section 4 recommends 160)
VALID_WINDOW = 1  # one 30-second step either side for clock drift (RFC 6238 section 5.2)
_SEAL_PURPOSE = "totp"
QR_TITLE = lazy_gettext("QR code for your authenticator app")


class TotpAlreadyEnrolled(Exception):
    """A confirmed authenticator app exists; a person has at most one, so it must be removed first."""


class NoTotpSetup(Exception):
    """There is no unconfirmed seed to confirm (never started, replaced, or already confirmed)."""


@dataclass(frozen=True)
class TotpSetup:
    """What the person needs to add the account to their app: a QR code and the seed to type in."""

    secret_groups: str
    qr_svg: Markup


def _seal_context(user_id: int) -> str:
    # Bound as associated data: a sealed seed copied onto another person's row does not open.
    return f"user:{user_id}"


def _seal_secret(user_id: int, secret: str) -> str:
    key = current_app.config["SECRET_KEY"]
    return seal(secret.encode("ascii"), secret=key, purpose=_SEAL_PURPOSE, context=_seal_context(user_id))


def _open_secret(factor: TotpFactor) -> str:
    key = current_app.config["SECRET_KEY"]
    plain = unseal(factor.secret_encrypted, secret=key, purpose=_SEAL_PURPOSE, context=_seal_context(factor.user_id))
    return plain.decode("ascii")


def totp_factor(user: User) -> TotpFactor | None:
    """The person's TOTP row, confirmed or not (at most one: user_id is unique)."""
    return db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id))


def confirmed_totp(user: User) -> TotpFactor | None:
    factor = totp_factor(user)
    return factor if factor is not None and factor.confirmed_at is not None else None


def has_confirmed_totp(user: User) -> bool:
    return confirmed_totp(user) is not None


def start_totp_enrolment(user: User) -> str:
    """Make a new unconfirmed seed (replacing an earlier unconfirmed one); return it to show once."""
    existing = totp_factor(user)
    if existing is not None and existing.confirmed_at is not None:
        raise TotpAlreadyEnrolled()
    if existing is not None:
        db.session.delete(existing)
        db.session.flush()  # the old row goes first: user_id is unique
    secret = pyotp.random_base32(SEED_BASE32_LENGTH)
    db.session.add(TotpFactor(user_id=user.id, secret_encrypted=_seal_secret(user.id, secret)))
    db.session.flush()
    return secret


def describe_setup(secret: str, *, account: str, issuer: str) -> TotpSetup:
    """The otpauth:// URI as an inline SVG QR code (drawn here: no outside service sees the seed)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)
    # A white background of its own, so the code scans whatever the page behind it looks like.
    svg = segno.make(uri, error="m").svg_inline(scale=4, light="#fff", svgclass="totp-qr", title=str(QR_TITLE))
    groups = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return TotpSetup(secret_groups=groups, qr_svg=Markup(svg))


def verify_code(factor: TotpFactor, code: str, *, at: float | None = None) -> bool:
    """Accept `code` if it matches a step within the drift window that is newer than the last used one.

    On success the step is claimed in the caller's transaction; the caller commits.
    """
    totp = pyotp.TOTP(_open_secret(factor))
    current = totp.timecode(time.time() if at is None else at)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if factor.last_used_step is not None and step <= factor.last_used_step:
            continue  # RFC 6238 section 5.2: a code must not be accepted twice
        if constant_time_equals(totp.generate_otp(step), code):
            return _claim_step(factor, step)
    return False


def _claim_step(factor: TotpFactor, step: int) -> bool:
    """Record the step only if no one recorded it (or a later one) first; False when a parallel use won."""
    result = db.session.execute(
        update(TotpFactor)
        .where(
            TotpFactor.id == factor.id,
            or_(TotpFactor.last_used_step.is_(None), TotpFactor.last_used_step < step),
        )
        .values(last_used_step=step, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(factor)
    return True


def confirm_totp_enrolment(user: User, code: str, *, origin: Origin, at: float | None = None) -> bool:
    """Turn the unconfirmed seed into a factor when `code` is right; audited in the caller's transaction."""
    factor = totp_factor(user)
    if factor is None or factor.confirmed_at is not None:
        raise NoTotpSetup()
    if not verify_code(factor, code, at=at):
        return False
    factor.confirmed_at = utcnow()
    record_event("mfa.enrolled", origin=origin, subject=user, kind="totp")
    db.session.flush()
    return True


def check_totp(user: User, code: str, *, at: float | None = None) -> bool:
    """A sign-in or step-up proof: only a confirmed factor counts."""
    factor = confirmed_totp(user)
    return factor is not None and verify_code(factor, code, at=at)


def remove_totp(user: User, *, origin: Origin) -> bool:
    """Delete the confirmed factor; False when there is none."""
    factor = confirmed_totp(user)
    if factor is None:
        return False
    db.session.delete(factor)
    record_event("mfa.removed", origin=origin, subject=user, kind="totp")
    forget_stand_ins_without_factor(user)
    return True
