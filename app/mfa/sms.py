"""Text-message codes: phone numbers in E.164, one-time codes, their limits. No request objects here.

A code is 6 random digits, valid for 5 minutes, for at most 5 tries, and once. Only the newest
code for a number and purpose counts, so an earlier text stops working when a new one is sent.
The code is stored as an HMAC-SHA-256 digest keyed by the app secret: a plain SHA-256 of six
digits is undone by trying all million of them, a keyed one not without the secret. Tries and
use are claimed with conditional UPDATEs, so parallel requests cannot add guesses or reuse a code.
A person gets at most 5 texts an hour: texts cost money and can be abused to spam a number.

SMS is a restricted factor (docs/security.md "MFA and recovery"; NIST SP 800-63B 5.1.3.3): a SIM can
be swapped or a text intercepted, so it is never an administrator's only factor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import func, select, update

from app.core.audit import Origin, record_event
from app.core.factors import RESTRICTED_KINDS, enrolled_factor_kinds, has_mfa
from app.core.sms_senders import SmsSender, mask_phone
from app.extensions import db
from app.metrics import SMS_SENDS, counting_sends
from app.mfa.recovery import delete_recovery_codes
from app.models import PhoneFactor, SmsCode, User
from app.models.base import utcnow
from app.models.mfa import SmsPurpose

CODE_DIGITS = 6
# Defaults until app/config.py names them (IDP_SMS_CODE_SECONDS, IDP_SMS_MAX_ATTEMPTS, IDP_SMS_SENDS_PER_HOUR).
DEFAULT_CODE_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_SENDS_PER_HOUR = 5
# Whether this factor may stand alone for an account that must have MFA because it is an admin.

# "+" and 8-15 digits (E.164 allows 15; no country code starts with 0). ASCII digits only: \d
# would accept other scripts' digits, which no gateway dials.
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_SEPARATORS = re.compile(r"[\s.()-]")


class PhoneAlreadyEnrolled(Exception):
    """A verified number exists; a person has one, so it must be removed before another is added."""


class NoPhoneSetup(Exception):
    """There is no number to send to or confirm (never added, removed, or already verified)."""


class SmsRestricted(Exception):
    """An administrator without an authenticator app or security key may not add SMS."""


class SmsRateLimited(Exception):
    """The person already got the hourly number of texts."""


def normalize_phone(raw: str | None) -> str | None:
    """The number in E.164 ("+441234567890"), ignoring spaces, dashes, dots and parentheses; None if it isn't one."""
    if not raw or len(raw) > 64:
        return None
    phone = _SEPARATORS.sub("", raw)
    return phone if _E164.fullmatch(phone) else None


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(user_id: int, phone_e164: str, code: str) -> str:
    """Keyed and bound to the person and number: a digest copied to another row matches nothing there."""
    key = ("idp sms code v1|" + current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, f"{user_id}|{phone_e164}|{code}".encode("ascii"), hashlib.sha256).hexdigest()


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def code_lifetime() -> timedelta:
    return timedelta(seconds=_setting("SMS_CODE_SECONDS", DEFAULT_CODE_SECONDS))


def lifetime_text() -> str:
    """ "5 minutes", as the texts and pages say it."""
    minutes = max(1, int(code_lifetime().total_seconds() // 60))
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


def phone_factor(user: User) -> PhoneFactor | None:
    """The person's number, verified or not (at most one: user_id is unique)."""
    return db.session.scalar(select(PhoneFactor).where(PhoneFactor.user_id == user.id))


def verified_phone(user: User) -> PhoneFactor | None:
    phone = phone_factor(user)
    return phone if phone is not None and phone.verified_at is not None else None


def has_verified_phone(user: User) -> bool:
    return verified_phone(user) is not None


def sms_offered() -> bool:
    """False when the server sends no texts (IDP_SMS_SENDER=off): nobody can add a phone then."""
    return current_app.config.get("SMS_SENDER") != "off"


def sms_allowed_for(user: User) -> bool:
    """Anyone may add SMS, except an administrator for whom it would be the only factor."""
    return not user.is_admin or any(kind not in RESTRICTED_KINDS for kind in enrolled_factor_kinds(user))


def sends_in_last_hour(user: User) -> int:
    since = utcnow() - timedelta(hours=1)
    query = select(func.count()).select_from(SmsCode).where(SmsCode.user_id == user.id, SmsCode.created_at > since)
    return db.session.scalar(query) or 0


def message_text(code: str, purpose: SmsPurpose) -> str:
    """The code comes first (phones offer it for autofill) and never right after "code:" (see LogSmsSender)."""
    name = current_app.config["SERVICE_NAME"]
    lifetime = lifetime_text()
    if purpose == SmsPurpose.SIGNIN:
        return gettext(
            "%(code)s is your %(service)s sign-in code. It expires in %(lifetime)s. Never share it with anyone.",
            code=code,
            service=name,
            lifetime=lifetime,
        )
    return gettext(
        "%(code)s is your %(service)s code to confirm this phone. It expires in %(lifetime)s. Never share it with anyone.",
        code=code,
        service=name,
        lifetime=lifetime,
    )


def send_code(user: User, phone_e164: str, purpose: SmsPurpose, *, sender: SmsSender, origin: Origin) -> None:
    """Make a code, text it, and audit the send, in the caller's transaction.

    The code row is added before the gateway is called, and the caller commits it even when the
    send fails: a gateway that timed out may still deliver, and a failing gateway must not become
    a way around the hourly limit.
    """
    # Row lock on PostgreSQL: parallel sends for one person are counted one after the other.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    if sends_in_last_hour(user) >= _setting("SMS_SENDS_PER_HOUR", DEFAULT_SENDS_PER_HOUR):
        raise SmsRateLimited()
    code = new_code()
    now = utcnow()
    db.session.add(
        SmsCode(
            user_id=user.id,
            phone_e164=phone_e164,
            purpose=purpose,
            code_digest=code_digest(user.id, phone_e164, code),
            created_at=now,
            expires_at=now + code_lifetime(),
        )
    )
    db.session.flush()
    with counting_sends(SMS_SENDS):
        sender.send(phone_e164, message_text(code, purpose))  # SmsSendError propagates: nothing audited
    record_event("mfa.sms_sent", origin=origin, subject=user, purpose=purpose, phone=mask_phone(phone_e164))
    db.session.flush()


def check_code(user: User, phone_e164: str, purpose: SmsPurpose, code: str) -> bool:
    """Spend the newest code for this number and purpose if `code` is it; every call uses up one try.

    The caller commits even on False, so the used try is kept.
    """
    latest = db.session.scalar(
        select(SmsCode)
        .where(SmsCode.user_id == user.id, SmsCode.phone_e164 == phone_e164, SmsCode.purpose == purpose)
        .order_by(SmsCode.id.desc())
        .limit(1)
    )
    if latest is None:
        return False
    now = utcnow()
    live = (SmsCode.id == latest.id, SmsCode.consumed_at.is_(None), SmsCode.expires_at > now)
    tried = db.session.execute(
        update(SmsCode)
        .where(*live, SmsCode.attempts < _setting("SMS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
        .values(attempts=SmsCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if tried.rowcount != 1:
        return False  # used, expired, or out of tries: dead whatever was typed
    if not hmac.compare_digest(latest.code_digest, code_digest(user.id, phone_e164, code)):
        return False
    spent = db.session.execute(update(SmsCode).where(*live).values(consumed_at=now).execution_options(synchronize_session=False))
    return spent.rowcount == 1  # a parallel request with the same code may have spent it first


def start_enrolment(user: User, phone_e164: str, *, sender: SmsSender, origin: Origin) -> PhoneFactor:
    """Save the number unverified (replacing an earlier unverified one) and text it a code."""
    if not sms_allowed_for(user):
        raise SmsRestricted()
    existing = phone_factor(user)
    if existing is not None and existing.verified_at is not None:
        raise PhoneAlreadyEnrolled()
    if existing is not None:
        db.session.delete(existing)
        db.session.flush()  # the old row goes first: user_id is unique
    phone = PhoneFactor(user_id=user.id, phone_e164=phone_e164)
    db.session.add(phone)
    db.session.flush()
    send_code(user, phone_e164, SmsPurpose.ENROL, sender=sender, origin=origin)
    return phone


def resend_enrolment_code(user: User, *, sender: SmsSender, origin: Origin) -> PhoneFactor:
    phone = phone_factor(user)
    if phone is None or phone.verified_at is not None:
        raise NoPhoneSetup()
    send_code(user, phone.phone_e164, SmsPurpose.ENROL, sender=sender, origin=origin)
    return phone


def confirm_enrolment(user: User, code: str, *, origin: Origin) -> bool:
    """The code came back: the number becomes a factor; audited in the caller's transaction."""
    phone = phone_factor(user)
    if phone is None or phone.verified_at is not None:
        raise NoPhoneSetup()
    if not sms_allowed_for(user):  # the other factor may have gone since the code was sent
        raise SmsRestricted()
    if not check_code(user, phone.phone_e164, SmsPurpose.ENROL, code):
        return False
    phone.verified_at = utcnow()
    record_event("mfa.enrolled", origin=origin, subject=user, kind="sms")
    db.session.flush()
    return True


def send_signin_code(user: User, *, sender: SmsSender, origin: Origin) -> PhoneFactor:
    phone = verified_phone(user)
    if phone is None:
        raise NoPhoneSetup()
    send_code(user, phone.phone_e164, SmsPurpose.SIGNIN, sender=sender, origin=origin)
    return phone


def check_signin_code(user: User, code: str) -> bool:
    """A sign-in or step-up proof: only a verified number counts."""
    phone = verified_phone(user)
    if phone is None or not check_code(user, phone.phone_e164, SmsPurpose.SIGNIN, code):
        return False
    phone.last_used_at = utcnow()
    return True


def waiting_for_code(user: User, purpose: SmsPurpose) -> bool:
    """Whether a live code was sent, so the page should ask for it (after a reload, too)."""
    query = select(SmsCode.id).where(
        SmsCode.user_id == user.id,
        SmsCode.purpose == purpose,
        SmsCode.consumed_at.is_(None),
        SmsCode.expires_at > utcnow(),
        SmsCode.attempts < _setting("SMS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
    )
    return db.session.scalar(query.limit(1)) is not None


def remove_phone(user: User, *, origin: Origin) -> bool | None:
    """Delete the number: True if it was a factor (audited), False if it was unverified, None if none."""
    phone = phone_factor(user)
    if phone is None:
        return None
    was_factor = phone.verified_at is not None
    db.session.delete(phone)
    db.session.flush()
    if not was_factor:
        return False
    record_event("mfa.removed", origin=origin, subject=user, kind="sms")
    if not has_mfa(user):
        delete_recovery_codes(user)  # codes without a factor would be a way in the page no longer shows
    db.session.flush()
    return True
