"""Recovery codes: ten single-use codes that stand in for a lost second factor.

Each code is 16 characters from a 31-letter alphabet (about 79 bits, above the 64 docs/security.md
asks for), shown once and kept only as a SHA-256 digest: that much entropy needs no salt or slow
hash. A code is spent by a conditional UPDATE, so two requests racing with the same code get one
success between them. Codes are not a factor of their own (`has_mfa` ignores them).
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select, update

from app.core.audit import Origin, record_event
from app.core.factors import enrolled_factor_kinds, has_mfa
from app.extensions import db
from app.models import RecoveryCode, User
from app.models.base import utcnow
from app.security import token_digest

CODE_COUNT = 10
# Lower case without the look-alikes i, l, o, 0 and 1, so a code copied by hand reads back the same.
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 16
GROUP_LENGTH = 4
# At or below this many unused codes, the security page and the challenge warn the person.
FEW_LEFT = 3
# Longer input is not a code however it is spaced; refusing it early keeps the work bounded.
MAX_CODE_INPUT = 64
_SEPARATORS = str.maketrans("", "", "- \t\r\n")


class RecoveryCodesUnavailable(ValueError):
    """Recovery codes only make sense beside a real second factor."""


def normalize_code(raw: str | None) -> str | None:
    """Lower case without dashes and spaces; None unless it could be a recovery code at all."""
    if not raw or len(raw) > MAX_CODE_INPUT:
        return None
    code = raw.translate(_SEPARATORS).lower()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def format_code(code: str) -> str:
    """The form people read: xxxx-xxxx-xxxx-xxxx."""
    return "-".join(code[i : i + GROUP_LENGTH] for i in range(0, CODE_LENGTH, GROUP_LENGTH))


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def generate_recovery_codes(user: User, *, origin: Origin) -> list[str]:
    """Replace the person's codes with a new set; returns them formatted, the only time they exist in clear.

    The old set is deleted in the same transaction, so once this commits no old code works.
    """
    if not has_mfa(user):
        raise RecoveryCodesUnavailable("set up a second factor before creating recovery codes")
    delete_recovery_codes(user)
    codes = [new_code() for _ in range(CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_digest=token_digest(code)) for code in codes)
    db.session.flush()
    record_event("mfa.recovery_codes_generated", origin=origin, subject=user, count=CODE_COUNT)
    return [format_code(code) for code in codes]


def use_recovery_code(user: User, raw: str | None, *, origin: Origin) -> int | None:
    """Spend one of the person's codes; the number still unused, or None if the code is wrong or spent."""
    code = normalize_code(raw)
    if code is None:
        return None
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_digest == token_digest(code),
            RecoveryCode.used_at.is_(None),  # the race guard: only one UPDATE can match
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        return None
    remaining = remaining_recovery_codes(user)
    record_event("mfa.recovery_code_used", origin=origin, subject=user, remaining=remaining)
    return remaining


def remaining_recovery_codes(user: User) -> int:
    query = select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    return db.session.scalar(query) or 0


def has_recovery_codes(user: User) -> bool:
    """Whether the challenge should offer a recovery code (at least one unused)."""
    query = select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)).limit(1)
    return db.session.scalar(query) is not None


def first_set_due(user: User) -> bool:
    """Just after an enrolment: whether it gave the person their first second factor, so their first codes are due.

    One kind of factor and never a code (deleted codes count as none: removing the last factor drops them).
    """
    if len(enrolled_factor_kinds(user)) != 1:
        return False
    return db.session.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id).limit(1)) is None


def delete_recovery_codes(user: User) -> int:
    """Drop every code of the person (regeneration, or their last real factor went); how many were deleted.

    Callers that remove a person's last factor should call this in the same transaction: codes
    without a factor would be a second way in that the security page no longer shows.
    """
    result = db.session.execute(
        delete(RecoveryCode).where(RecoveryCode.user_id == user.id).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
