"""Second factors: TOTP, recovery codes, WebAuthn credentials (security keys and passkeys), SMS.

Secrets are never stored in the clear: the TOTP seed is encrypted with a key derived from the
app secret; recovery codes and SMS codes are SHA-256 digests; WebAuthn keeps only public keys.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, StrEnumType, UTCDateTime, utcnow
from app.models.user import User


class TotpFactor(Base):
    __tablename__ = "mfa_totp"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255), comment="base32 seed, AES-GCM sealed (app.core.crypto)")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="set when the person entered a valid code; unconfirmed seeds are not a factor"
    )
    last_used_step: Mapped[int | None] = mapped_column(Integer, comment="RFC 6238 time step last accepted (replay guard)")
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class RecoveryCode(Base):
    __tablename__ = "mfa_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the normalised code")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnCredential(Base):
    __tablename__ = "mfa_webauthn_credential"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True, comment="base64url credential id")
    public_key: Mapped[bytes] = mapped_column(LargeBinary, comment="COSE public key")
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100), default="")
    is_passkey: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="discoverable and user-verifying: may sign in without a password"
    )
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    aaguid: Mapped[str] = mapped_column(String(36), default="")
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChallengePurpose(StrEnum):
    """Which WebAuthn ceremony a challenge was issued for; it answers that ceremony only."""

    REGISTER = "register"  # adding a security key or passkey
    AUTHENTICATE = "authenticate"  # a second factor for a named person
    PASSKEY = "passkey"  # passwordless sign-in: no person named until the key answers


class SmsPurpose(StrEnum):
    """What a texted code proves; a code answers its own purpose only."""

    ENROL = "enrol"  # the person owns the number being added
    SIGNIN = "signin"  # the sign-in (or step-up) challenge


class WebAuthnChallenge(Base):
    """A ceremony's challenge, single use: the browser holds only the public id (in Flask's session)."""

    __tablename__ = "mfa_webauthn_challenge"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    purpose: Mapped[ChallengePurpose] = mapped_column(
        StrEnumType(ChallengePurpose, 16), comment="register, authenticate or passkey"
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PhoneFactor(Base):
    __tablename__ = "mfa_phone"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    phone_e164: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="set when a code sent to the number came back; unverified numbers are not a factor"
    )
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsCode(Base):
    __tablename__ = "mfa_sms_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    phone_e164: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[SmsPurpose] = mapped_column(StrEnumType(SmsPurpose, 16), comment="enrol or signin")
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
