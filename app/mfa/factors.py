"""Which second factors exist, which a person has, and how each plugs into the shared pages.

Each factor module (totp, recovery, webauthn, sms) registers a `FactorPlugin`: the challenge page
and the security page render the registered partial templates in order, so adding a factor
touches only its own module, views and templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import PhoneFactor, TotpFactor, User, WebAuthnCredential

# SMS can be intercepted or redirected (SIM swap): never an admin's only factor (SECURITY.md, NIST 4.2).
RESTRICTED_KINDS = frozenset({"sms"})

# RFC 8176 method references a factor adds to a session's amr.
AMR = {"totp": "otp", "recovery": "otp", "sms": "sms", "webauthn": "hwk", "passkey": "hwk"}


@dataclass(frozen=True)
class FactorPlugin:
    kind: str
    label: str
    order: int
    # Partial templates: one form/button on the challenge page, one section on the security page.
    challenge_template: str | None
    manage_template: str
    # Whether this person can answer this factor's challenge now.
    can_challenge: Callable[[User], bool]
    # What the factor's section on the security page shows about this person (counts, lists).
    manage_context: Callable[[User], dict[str, object]] | None = None


_PLUGINS: dict[str, FactorPlugin] = {}


def register_factor(plugin: FactorPlugin) -> None:
    _PLUGINS[plugin.kind] = plugin


def plugins() -> list[FactorPlugin]:
    return sorted(_PLUGINS.values(), key=lambda plugin: plugin.order)


def challenge_plugins(user: User) -> list[FactorPlugin]:
    return [p for p in plugins() if p.challenge_template and p.can_challenge(user)]


def enrolled_factor_kinds(user: User) -> list[str]:
    """The factors that count as a second factor (confirmed TOTP, a WebAuthn credential, a verified phone)."""
    kinds = []
    if db.session.scalar(select(TotpFactor.id).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_not(None))):
        kinds.append("totp")
    if db.session.scalar(select(WebAuthnCredential.id).where(WebAuthnCredential.user_id == user.id).limit(1)):
        kinds.append("webauthn")
    if db.session.scalar(select(PhoneFactor.id).where(PhoneFactor.user_id == user.id, PhoneFactor.verified_at.is_not(None))):
        kinds.append("sms")
    return kinds


def forget_recovery_codes_without_factor(user: User) -> None:
    """Call after removing a factor, in the same transaction: recovery codes stand in for a factor,
    and with none left they would be a second way in that the security page no longer shows."""
    from app.mfa.recovery import delete_recovery_codes

    db.session.flush()
    if not enrolled_factor_kinds(user):
        delete_recovery_codes(user)
