"""Security keys and passkeys (WebAuthn): the relying party, single-use challenges, registration, credentials.

Proving a key at sign-in or step-up is app.mfa.webauthn_sign_in's.

The relying party is the issuer: its host name is the RP ID and its origin the only origin accepted,
never the request's Host header (a forged Host must not change what a signature is checked against).
Challenges live in rows, so the browser holds only a row id, and each is consumed by one conditional
UPDATE before anything is verified (docs/security.md: single-use challenge, origin and RP ID checked).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext
from sqlalchemy import delete, func, select, update
from webauthn import (
    generate_registration_options,
    options_to_json,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.core.audit import Origin, record_event
from app.core.factors import forget_stand_ins_without_factor
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import User, WebAuthnChallenge, WebAuthnCredential
from app.models.base import utcnow
from app.models.mfa import ChallengePurpose
from app.security import new_public_id

CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_BYTES = 32
MAX_CREDENTIALS = 20
NAME_MAX = 100
# The longest credential id WebAuthn allows (1023 bytes) in base64url, within the column's 1400.
CREDENTIAL_ID_MAX = 1400
# RFC 8176: a hardware key, a user-presence test, and (it verified the person) more than one factor.
PASSKEY_AMR = ["hwk", "user", "mfa"]


# What a person is told when a ceremony fails, by reason (`WebAuthnRefused.reason`).
ERRORS = {
    "malformed": lazy_gettext("Your browser's answer could not be read. Try again."),
    "expired": lazy_gettext("That request expired or was already used. Try again."),
    "not_verified": lazy_gettext("Your security key's answer could not be verified. Try again."),
    "unknown_credential": lazy_gettext("That security key is not registered to this account."),
    "unknown_passkey": lazy_gettext("That passkey is not registered here. Sign in with your password instead."),
    "possible_clone": lazy_gettext(
        "That security key was refused: its use counter went backwards, so it may have been copied. "
        "Use another factor and check your security keys."
    ),
    "already_registered": lazy_gettext("That security key is already registered."),
    "too_many": lazy_gettext(
        "You can register at most %(max)d security keys and passkeys. Remove one first.", max=MAX_CREDENTIALS
    ),
    "bad_name": lazy_gettext("Use a name of at most %(max)d characters, without control characters.", max=NAME_MAX),
    "sign_in_refused": lazy_gettext(
        "That passkey can't sign in to this account now. Try again later or sign in with your password."
    ),
}


class WebAuthnRefused(Exception):
    """A ceremony failed; `reason` is an ERRORS key (shown to the person, recorded in the audit trail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        return ERRORS[self.reason]


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str
    name: str


def relying_party_for(issuer: str, service_name: str) -> RelyingParty:
    """The RP ID (host name) and origin of an issuer: "http://localhost:5000" -> "localhost", "http://localhost:5000"."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    # Browsers leave the default port out of an origin.
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return RelyingParty(id=host, origin=f"{parts.scheme}://{host}{port}", name=service_name)


def relying_party() -> RelyingParty:
    return relying_party_for(current_app.config["ISSUER"], current_app.config["SERVICE_NAME"])


def user_handle(user_id: int) -> bytes:
    """The WebAuthn user.id: the account number, which is already the public `sub` (no name or email in it)."""
    return str(user_id).encode("ascii")


# --- challenges -------------------------------------------------------------------------------


def issue_challenge(purpose: ChallengePurpose, user: User | None, now: datetime | None = None) -> WebAuthnChallenge:
    """A fresh random challenge row; expired rows are swept on the way so the table stays small."""
    now = now or utcnow()
    db.session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < now))
    row = WebAuthnChallenge(
        id=new_public_id(),
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        purpose=purpose,
        user_id=user.id if user else None,
        created_at=now,
        expires_at=now + CHALLENGE_TTL,
    )
    db.session.add(row)
    return row


def consume_challenge(challenge_id: object, purpose: ChallengePurpose, user: User | None, now: datetime | None = None) -> bytes:
    """Mark the challenge used with one conditional UPDATE and return its bytes; parallel uses get one success.

    Raises "expired" for an unknown, used, expired, other-purpose or other-person challenge.
    """
    if not isinstance(challenge_id, str) or not challenge_id or len(challenge_id) > 32:
        raise WebAuthnRefused("expired")
    now = now or utcnow()
    owner = WebAuthnChallenge.user_id == user.id if user else WebAuthnChallenge.user_id.is_(None)
    statement = (
        update(WebAuthnChallenge)
        .where(
            WebAuthnChallenge.id == challenge_id,
            WebAuthnChallenge.purpose == purpose,
            WebAuthnChallenge.consumed_at.is_(None),
            WebAuthnChallenge.expires_at > now,
            owner,
        )
        .values(consumed_at=now)
        .returning(WebAuthnChallenge.challenge)
    )
    challenge = db.session.execute(statement).scalar_one_or_none()
    if challenge is None:
        raise WebAuthnRefused("expired")
    return challenge


# --- registration -----------------------------------------------------------------------------


def registration_options(user: User, *, passkey: bool) -> tuple[str, WebAuthnChallenge]:
    """Options JSON for navigator.credentials.create(), and the challenge row whose id the browser keeps."""
    existing = credentials_of(user)
    if len(existing) >= MAX_CREDENTIALS:
        raise WebAuthnRefused("too_many")
    rp = relying_party()
    row = issue_challenge(ChallengePurpose.REGISTER, user)
    if passkey:
        # A passkey signs in alone, so it must be discoverable and must verify the person (PIN, biometric).
        selection = AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED
        )
    else:
        selection = AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED, user_verification=UserVerificationRequirement.DISCOURAGED
        )
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.email,
        user_id=user_handle(user.id),
        user_display_name=user.display_name or user.email,
        challenge=row.challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        authenticator_selection=selection,
        # The browser refuses an authenticator that already holds one of these, before it makes a key.
        exclude_credentials=[descriptor(credential) for credential in existing],
    )
    return options_to_json(options), row


def register_credential(
    user: User, challenge: bytes, response: object, *, passkey: bool, name: str, origin: Origin
) -> WebAuthnCredential:
    """Verify an attestation ("none" is enough: we trust the key, not its maker) and store the public key."""
    if not isinstance(response, dict):
        raise WebAuthnRefused("malformed")
    rp = relying_party()
    try:
        verified = verify_registration_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=passkey,
        )
    except Exception as exc:  # any malformed part (CBOR, COSE, base64) is a refusal, never a 500
        raise WebAuthnRefused("not_verified") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > CREDENTIAL_ID_MAX:
        raise WebAuthnRefused("malformed")
    if db.session.scalar(select(WebAuthnCredential.id).where(WebAuthnCredential.credential_id == credential_id)):
        raise WebAuthnRefused("already_registered")
    credential = WebAuthnCredential(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        is_passkey=passkey,
        transports=_transports(response),
        aaguid=verified.aaguid,
        backed_up=verified.credential_backed_up,
        created_at=utcnow(),
    )
    db.session.add(credential)
    db.session.flush()
    record_event("mfa.enrolled", origin=origin, subject=user, kind=kind_of(credential), credential=credential.id)
    return credential


def _transports(response: dict) -> list[str]:
    """The transports the browser reported, kept only when they are known WebAuthn values."""
    inner = response.get("response")
    reported = inner.get("transports") if isinstance(inner, dict) else None
    if not isinstance(reported, list):
        return []
    known = {transport.value for transport in AuthenticatorTransport}
    return [value for value in reported if isinstance(value, str) and value in known][:8]


def descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    known = {transport.value for transport in AuthenticatorTransport}
    transports = [AuthenticatorTransport(value) for value in credential.transports or [] if value in known]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential.credential_id), transports=transports or None)


# --- the person's credentials -----------------------------------------------------------------


def kind_of(credential: WebAuthnCredential) -> str:
    return "passkey" if credential.is_passkey else "webauthn"


def credentials_of(user: User) -> list[WebAuthnCredential]:
    query = select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id).order_by(WebAuthnCredential.id)
    return list(db.session.scalars(query))


def has_credentials(user: User) -> bool:
    return bool(db.session.scalar(select(func.count(WebAuthnCredential.id)).where(WebAuthnCredential.user_id == user.id)))


def find_credential(user: User, credential_pk: int) -> WebAuthnCredential | None:
    """The person's own credential by row id; someone else's is None, as if it did not exist."""
    return db.session.scalar(
        select(WebAuthnCredential).where(WebAuthnCredential.id == credential_pk, WebAuthnCredential.user_id == user.id)
    )


def clean_name(raw: object, *, passkey: bool, now: datetime | None = None) -> str:
    """The name as typed (trimmed), or one from today's date; refuses long names and control characters."""
    if raw is not None and not isinstance(raw, str):
        raise WebAuthnRefused("bad_name")
    name = " ".join((raw or "").split())
    if len(name) > NAME_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise WebAuthnRefused("bad_name")
    if name:
        return name
    date = (now or utcnow()).strftime("%Y-%m-%d")
    return gettext("Passkey added %(date)s", date=date) if passkey else gettext("Security key added %(date)s", date=date)


def rename_credential(credential: WebAuthnCredential, name: str) -> None:
    credential.name = name


def remove_credential(user: User, credential: WebAuthnCredential, *, origin: Origin) -> str:
    """Delete the credential and audit it; returns its kind ("webauthn" or "passkey") for the notice."""
    kind = kind_of(credential)
    record_event("mfa.removed", origin=origin, subject=user, kind=kind, credential=credential.id)
    db.session.delete(credential)
    forget_stand_ins_without_factor(user)
    return kind
