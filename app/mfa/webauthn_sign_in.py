"""Proving a security key or passkey: challenge options, signature and counter checks, passkey sign-in."""

from __future__ import annotations

from sqlalchemy import select, update
from webauthn import (
    generate_authentication_options,
    options_to_json,
    verify_authentication_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.structs import (
    UserVerificationRequirement,
)

from app.core.accounts import SignIn
from app.core.audit import Origin, record_event
from app.core.lockout import record_failed_attempt
from app.core.sessions import start_session
from app.extensions import db
from app.metrics import SIGN_INS, count, count_sign_in
from app.mfa.webauthn import (
    CHALLENGE_TTL,
    CREDENTIAL_ID_MAX,
    PASSKEY_AMR,
    WebAuthnRefused,
    credentials_of,
    descriptor,
    issue_challenge,
    relying_party,
    user_handle,
)
from app.models import User, WebAuthnChallenge, WebAuthnCredential
from app.models.base import utcnow
from app.models.mfa import ChallengePurpose


def second_factor_options(user: User) -> tuple[str, WebAuthnChallenge]:
    """Options for the challenge after the password: only this person's credentials may answer."""
    row = issue_challenge(ChallengePurpose.AUTHENTICATE, user)
    options = generate_authentication_options(
        rp_id=relying_party().id,
        challenge=row.challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        allow_credentials=[descriptor(credential) for credential in credentials_of(user)],
        # The password was the first factor; touching the key is the second. No PIN needed on top.
        user_verification=UserVerificationRequirement.DISCOURAGED,
    )
    return options_to_json(options), row


def passkey_options() -> tuple[str, WebAuthnChallenge]:
    """Options for passwordless sign-in: no account named, the authenticator offers its passkeys."""
    row = issue_challenge(ChallengePurpose.PASSKEY, None)
    options = generate_authentication_options(
        rp_id=relying_party().id,
        challenge=row.challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        allow_credentials=None,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options), row


def verify_second_factor(user: User, challenge: bytes, response: object, *, origin: Origin) -> WebAuthnCredential:
    """Check an assertion against one of `user`'s own credentials (another person's key is unknown here)."""
    credential = _find_by_response(response, WebAuthnCredential.user_id == user.id)
    if credential is None:
        raise WebAuthnRefused("unknown_credential")
    verified = _check_signature(credential, challenge, response, require_user_verification=False)
    _record_use(credential, verified, origin=origin)
    return credential


def verify_passkey(challenge: bytes, response: object, *, origin: Origin) -> WebAuthnCredential:
    """Check a passwordless assertion: a passkey's signature, with the person verified by the authenticator."""
    credential = _find_by_response(response, WebAuthnCredential.is_passkey.is_(True))
    if credential is None:
        record_event("auth.login_failed", origin=origin, reason="unknown_passkey")
        count(SIGN_INS, factor="passkey", result="unknown_passkey")
        raise WebAuthnRefused("unknown_passkey")
    verified = _check_signature(credential, challenge, response, require_user_verification=True)
    # WebAuthn 7.2 step 6: the user handle the authenticator returns must name the credential's owner.
    handle = response["response"].get("userHandle")
    if not isinstance(handle, str) or _decode(handle) != user_handle(credential.user_id):
        raise WebAuthnRefused("not_verified")
    _record_use(credential, verified, origin=origin)
    return credential


def _find_by_response(response: object, *criteria) -> WebAuthnCredential | None:
    if not isinstance(response, dict) or not isinstance(response.get("response"), dict):
        raise WebAuthnRefused("malformed")
    credential_id = response.get("id")
    if not isinstance(credential_id, str) or not credential_id or len(credential_id) > CREDENTIAL_ID_MAX:
        raise WebAuthnRefused("malformed")
    return db.session.scalar(select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential_id, *criteria))


def _decode(value: str) -> bytes | None:
    try:
        return base64url_to_bytes(value)
    except Exception:  # not base64url: the comparison simply fails
        return None


def _check_signature(
    credential: WebAuthnCredential, challenge: bytes, response: dict, *, require_user_verification: bool
) -> VerifiedAuthentication:
    rp = relying_party()
    try:
        return verify_authentication_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=credential.public_key,
            # 0 turns the library's counter check off: ours (_record_use) runs once the signature is
            # proven, so a forged response can't raise a clone alarm, and a real one is audited.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except Exception as exc:  # malformed authenticator or client data is a refusal, never a 500
        raise WebAuthnRefused("not_verified") from exc


def is_possible_clone(stored_count: int, new_count: int) -> bool:
    """WebAuthn 7.2 step 21: a counter that does not grow (when either side counts at all) means a copied key."""
    return (stored_count > 0 or new_count > 0) and new_count <= stored_count


def _record_use(credential: WebAuthnCredential, verified: VerifiedAuthentication, *, origin: Origin) -> None:
    """Store the new counter, refusing a possible clone; compare-and-set so parallel uses can't both pass."""
    stored = credential.sign_count
    moved = 0
    if not is_possible_clone(stored, verified.new_sign_count):
        moved = db.session.execute(
            update(WebAuthnCredential)
            .where(WebAuthnCredential.id == credential.id, WebAuthnCredential.sign_count == stored)
            .values(sign_count=verified.new_sign_count, last_used_at=utcnow(), backed_up=verified.credential_backed_up)
            .execution_options(synchronize_session="fetch")
        ).rowcount
    if moved != 1:
        record_event(
            "mfa.webauthn_clone_suspected",
            origin=origin,
            subject=db.session.get(User, credential.user_id),
            credential=credential.id,
            stored_sign_count=stored,
            presented_sign_count=verified.new_sign_count,
        )
        raise WebAuthnRefused("possible_clone")


def sign_in_with_passkey(credential: WebAuthnCredential, *, origin: Origin) -> SignIn | None:
    """Start a full session for the passkey's owner; None (audited) when the account may not sign in now.

    The same refusals as the password sign-in (app.core.accounts.authenticate): disabled or locked.
    """
    now = utcnow()
    user = db.session.get(User, credential.user_id)
    if user.is_disabled or user.is_locked(now):
        record_failed_attempt(user, now, origin, "disabled" if user.is_disabled else "locked", factor="passkey")
        count(SIGN_INS, factor="passkey", result="disabled" if user.is_disabled else "locked")
        return None
    user_session, cookie_value = start_session(user, origin=origin, amr=PASSKEY_AMR)
    user.failed_login_count = 0
    user.locked_until = None
    db.session.flush()
    record_event("auth.login", origin=origin, subject=user, session_id=user_session.id, amr=PASSKEY_AMR)
    count_sign_in("passkey", None)
    return SignIn(user, user_session, cookie_value)
