"""The second factors this IdP offers, described for the factor registry (app.core.factors).

The factory registers `FACTORS`; nothing registers itself on import. Each plugin says how to tell
that a person has the factor, which tables hold their rows, what the data export and the console
show of it, and which partial templates the challenge and security pages render.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import exists, func, select

from app.core.factors import FactorInfo, FactorPlugin
from app.core.text import lazy_gettext
from app.extensions import db
from app.mfa import recovery, sms, totp, webauthn
from app.models import PhoneFactor, RecoveryCode, SmsCode, TotpFactor, User, WebAuthnChallenge, WebAuthnCredential


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _totp_export(user: User) -> dict[str, Any]:
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id))
    exported = None
    if row is not None:
        exported = {
            "added_at": _time(row.created_at),
            "confirmed_at": _time(row.confirmed_at),
            "last_used_at": _time(row.last_used_at),
        }
    return {"authenticator_app": exported}


def _totp_describe(user: User) -> list[FactorInfo]:
    rows = db.session.scalars(select(TotpFactor).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_not(None)))
    return [FactorInfo(gettext("Authenticator app"), "", row.created_at, row.last_used_at) for row in rows]


TOTP = FactorPlugin(
    kind="totp",
    label=lazy_gettext("Authenticator app"),
    order=10,
    challenge_template="mfa/_totp_challenge.html",
    manage_template="mfa/_totp_manage.html",
    can_challenge=totp.has_confirmed_totp,
    tables=(TotpFactor,),
    enrolled_when=lambda: exists().where(TotpFactor.user_id == User.id, TotpFactor.confirmed_at.is_not(None)),
    export=_totp_export,
    describe=_totp_describe,
)


def _credentials(user: User) -> list[WebAuthnCredential]:
    query = select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id)
    return list(db.session.scalars(query.order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)))


def _webauthn_export(user: User) -> dict[str, Any]:
    keys = [
        {
            "name": row.name,
            "is_passkey": row.is_passkey,
            "backed_up": row.backed_up,
            "added_at": _time(row.created_at),
            "last_used_at": _time(row.last_used_at),
        }
        for row in _credentials(user)
    ]
    return {"security_keys": keys}


def _webauthn_describe(user: User) -> list[FactorInfo]:
    query = select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id).order_by(WebAuthnCredential.id)
    return [
        FactorInfo(gettext("Passkey") if row.is_passkey else gettext("Security key"), row.name, row.created_at, row.last_used_at)
        for row in db.session.scalars(query)
    ]


WEBAUTHN = FactorPlugin(
    kind="webauthn",
    label=lazy_gettext("Security keys and passkeys"),
    order=20,
    challenge_template="mfa/_webauthn_challenge.html",
    manage_template="mfa/_webauthn_manage.html",
    can_challenge=webauthn.has_credentials,
    tables=(WebAuthnCredential, WebAuthnChallenge),
    enrolled_when=lambda: exists().where(WebAuthnCredential.user_id == User.id),
    export=_webauthn_export,
    describe=_webauthn_describe,
    manage_context=lambda user: {"webauthn_credentials": webauthn.credentials_of(user)},
)


def _sms_export(user: User) -> dict[str, Any]:
    row = db.session.scalar(select(PhoneFactor).where(PhoneFactor.user_id == user.id))
    exported = None
    if row is not None:
        # Their own number, so it is shown in full; it is what they would ask "which phone?" about.
        exported = {
            "number": row.phone_e164,
            "added_at": _time(row.created_at),
            "verified_at": _time(row.verified_at),
            "last_used_at": _time(row.last_used_at),
        }
    return {"phone": exported}


def _sms_describe(user: User) -> list[FactorInfo]:
    rows = db.session.scalars(select(PhoneFactor).where(PhoneFactor.user_id == user.id, PhoneFactor.verified_at.is_not(None)))
    return [FactorInfo(gettext("Text message"), "", row.created_at, row.last_used_at) for row in rows]


SMS = FactorPlugin(
    kind="sms",
    label=lazy_gettext("Text message"),
    order=30,
    challenge_template="mfa/_sms_challenge.html",
    manage_template="mfa/_sms_manage.html",
    can_challenge=sms.has_verified_phone,
    tables=(PhoneFactor, SmsCode),
    enrolled_when=lambda: exists().where(PhoneFactor.user_id == User.id, PhoneFactor.verified_at.is_not(None)),
    export=_sms_export,
    describe=_sms_describe,
)


def _recovery_export(user: User) -> dict[str, Any]:
    unused = select(func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    return {"recovery_codes_remaining": db.session.scalar(unused)}  # how many, never the codes or digests


RECOVERY = FactorPlugin(
    kind="recovery",
    label=lazy_gettext("Recovery codes"),
    order=90,
    challenge_template="mfa/_recovery_challenge.html",
    manage_template="mfa/_recovery_manage.html",
    can_challenge=recovery.has_recovery_codes,
    tables=(RecoveryCode,),
    export=_recovery_export,
    manage_context=lambda user: {
        "recovery_codes_left": recovery.remaining_recovery_codes(user),
        "recovery_few_left": recovery.FEW_LEFT,
    },
)

FACTORS = (TOTP, WEBAUTHN, SMS, RECOVERY)
