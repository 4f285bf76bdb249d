"""Signing in with an account elsewhere, and linking such accounts to a person here. No request objects here.

The rules (docs/security.md: nothing signs in without its second factor):
- A linked upstream account signs its person in, as far as a password would: a person with a factor
  still gets the MFA challenge, and `amr` says "fed".
- An unknown upstream account creates a new account only when registration is open and the provider
  vouches for the email address. If that address already has an account here, nothing is linked
  automatically (an account pre-registered with someone else's address, or a provider that lets people
  claim addresses, would otherwise hand the account over): the person signs in to it first, then links.
- An upstream account belongs to at most one person. Unlinking the last way to sign in is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.core.accounts import SignIn, find_user_by_email, normalize_email
from app.core.audit import Origin, record_event
from app.core.providers import Provider, UpstreamIdentity, configured_providers
from app.core.sessions import start_session
from app.core.sign_in import sign_in_stage
from app.extensions import db
from app.metrics import count_sign_in
from app.models import LinkedIdentity, SignInStage, User, UserSession, WebAuthnCredential
from app.models.base import utcnow

# How long the person has to sign in to an existing account and confirm a link after the upstream proof.
PENDING_LINK_TTL = timedelta(minutes=10)
FEDERATED_AMR = "fed"  # RFC 8176


class FederationRefused(Exception):
    """The upstream sign-in or link cannot go ahead; ``reason`` picks the message shown to the person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnlinkRefused(Exception):
    """Unlinking would leave the account without a way to sign in."""


@dataclass(frozen=True)
class PendingLink:
    """An upstream account proven in this browser whose address belongs to an existing account here.

    Kept in Flask's (signed) session until the person has signed in to an account and confirmed.
    """

    provider: str
    subject: str
    email: str
    username: str
    proven_at: float  # POSIX seconds, UTC

    @classmethod
    def of(cls, provider: Provider, identity: UpstreamIdentity) -> PendingLink:
        return cls(provider.name, identity.subject, identity.email, identity.username, utcnow().timestamp())

    @classmethod
    def from_session(cls, data: object) -> PendingLink | None:
        try:
            return cls(**data) if isinstance(data, dict) else None
        except TypeError:
            return None

    def to_session(self) -> dict:
        return asdict(self)

    def proven(self) -> datetime:
        return datetime.fromtimestamp(self.proven_at, tz=utcnow().tzinfo)

    def is_usable_by(self, user_session: UserSession, now: datetime | None = None) -> bool:
        """Still fresh, and the session signed in *after* the upstream proof: sign in first, then link."""
        now = now or utcnow()
        return now - self.proven() <= PENDING_LINK_TTL and user_session.auth_time > self.proven()


def find_link(provider: str, subject: str) -> LinkedIdentity | None:
    return db.session.scalar(select(LinkedIdentity).where(LinkedIdentity.provider == provider, LinkedIdentity.subject == subject))


def links_of(user: User) -> list[LinkedIdentity]:
    return list(
        db.session.scalars(select(LinkedIdentity).where(LinkedIdentity.user_id == user.id).order_by(LinkedIdentity.linked_at))
    )


def sign_in_with(provider: Provider, identity: UpstreamIdentity, *, origin: Origin) -> SignIn | PendingLink:
    """Sign in through a provider: a session (maybe pending MFA), or a PendingLink when the address is taken.

    Raises FederationRefused (audited; the caller commits so the record stays) for every other outcome.
    """
    link = find_link(provider.name, identity.subject)
    if link is not None:
        return _sign_in_linked(provider, link, identity, origin)
    if not identity.email or not identity.email_verified:
        _refuse(provider, "unverified_email", origin)
    existing = find_user_by_email(identity.email)
    if existing is not None:
        # A parallel first sign-in with this same upstream account may have created the account and its
        # link between the two lookups (each query sees what was committed when it started): ask again
        # before calling it a collision with someone else's account.
        link = find_link(provider.name, identity.subject)
        if link is not None:
            return _sign_in_linked(provider, link, identity, origin)
        record_event("auth.federated_collision", origin=origin, subject=existing, provider=provider.name)
        return PendingLink.of(provider, identity)
    if not current_app.config["REGISTRATION_OPEN"]:
        _refuse(provider, "registration_closed", origin)
    user = _create_account(provider, identity, origin)
    return _start(provider, user, origin)


def _sign_in_linked(provider: Provider, link: LinkedIdentity, identity: UpstreamIdentity, origin: Origin) -> SignIn:
    user = link.user
    now = utcnow()
    if user.is_disabled or user.is_locked(now):
        _refuse(provider, "disabled" if user.is_disabled else "locked", origin, subject=user)
    _refresh(link, identity, now)
    return _start(provider, user, origin)


def _start(provider: Provider, user: User, origin: Origin) -> SignIn:
    """A session proven by the provider; the second factor, if the account has one, is still owed."""
    user_session, cookie_value = start_session(user, origin=origin, amr=[FEDERATED_AMR])
    user_session.pending = sign_in_stage(user)
    if user_session.pending != SignInStage.MFA:
        # As after a password: with a challenge owed the failure count stays until it is passed.
        user.failed_login_count = 0
        user.locked_until = None
    db.session.flush()
    count_sign_in("social", user_session.pending)
    if user_session.pending is None:
        record_event(
            "auth.login", origin=origin, subject=user, session_id=user_session.id, amr=[FEDERATED_AMR], provider=provider.name
        )
    else:
        record_event(
            "auth.federated_verified",
            origin=origin,
            subject=user,
            session_id=user_session.id,
            provider=provider.name,
            next=user_session.pending,
        )
    return SignIn(user, user_session, cookie_value)


def _create_account(provider: Provider, identity: UpstreamIdentity, origin: Origin) -> User:
    """A new account with the provider's verified address and no password (one can be set later)."""
    now = utcnow()
    user = User(
        email=normalize_email(identity.email),
        display_name=(identity.name or identity.username)[:100],
        password_hash=None,
        email_verified_at=now,  # the provider vouched for it (checked by the caller)
    )
    db.session.add(user)
    db.session.flush()
    record_event("auth.registered", origin=origin, subject=user, provider=provider.name)
    _add_link(user, provider, identity, origin, now)
    return user


def link_identity(user: User, provider: Provider, identity: UpstreamIdentity, *, origin: Origin) -> LinkedIdentity:
    """Link an upstream account the person just proved to their account; refused if someone else has it."""
    link = find_link(provider.name, identity.subject)
    if link is not None and link.user_id != user.id:
        _refuse(provider, "linked_elsewhere", origin, subject=user)
    if link is not None:
        _refresh(link, identity, utcnow())
        return link
    return _add_link(user, provider, identity, origin, utcnow())


def _add_link(user: User, provider: Provider, identity: UpstreamIdentity, origin: Origin, now: datetime) -> LinkedIdentity:
    link = LinkedIdentity(
        user_id=user.id,
        provider=provider.name,
        subject=identity.subject,
        email=identity.email[:254],
        username=identity.username[:100],
        linked_at=now,
        last_used_at=now,
    )
    db.session.add(link)
    db.session.flush()
    record_event("account.identity_linked", origin=origin, subject=user, provider=provider.name, link_id=link.id)
    return link


def _refresh(link: LinkedIdentity, identity: UpstreamIdentity, now: datetime) -> None:
    """What the provider says now: the address and handle shown to the person may have changed upstream."""
    link.last_used_at = now
    link.email = identity.email[:254]
    link.username = identity.username[:100] or link.username


def _refuse(provider: Provider, reason: str, origin: Origin, *, subject: User | None = None) -> None:
    record_failure(provider, reason, origin=origin, subject=subject)
    raise FederationRefused(reason)


def record_failure(provider: Provider, reason: str, *, origin: Origin, subject: User | None = None, **details: str) -> None:
    """Audit a federated sign-in or link that did not happen (denied, forged state, provider trouble, refused)."""
    record_event("auth.federated_failed", origin=origin, subject=subject, provider=provider.name, reason=reason, **details)


def sign_in_methods(user: User, *, without_link: int | None = None) -> list[str]:
    """The ways this account can still sign in: a password, a passkey, a link to a configured provider."""
    methods = []
    if user.password_hash:
        methods.append("password")
    passkeys = db.session.scalar(
        select(func.count())
        .select_from(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user.id, WebAuthnCredential.is_passkey.is_(True))
    )
    if passkeys:
        methods.append("passkey")
    providers = configured_providers()
    methods += [f"link:{link.id}" for link in links_of(user) if link.id != without_link and link.provider in providers]
    return methods


def unlink_identity(user: User, link_id: int, *, origin: Origin) -> LinkedIdentity | None:
    """Remove one of the person's links; None when it is not theirs. Raises UnlinkRefused for the last way in.

    The person's row is locked first (PostgreSQL), so two parallel unlinks of the last two links queue up
    and the second sees the first.
    """
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    link = db.session.scalar(select(LinkedIdentity).where(LinkedIdentity.id == link_id, LinkedIdentity.user_id == user.id))
    if link is None:
        return None
    if not sign_in_methods(user, without_link=link.id):
        raise UnlinkRefused()
    db.session.delete(link)
    record_event("account.identity_unlinked", origin=origin, subject=user, provider=link.provider, link_id=link.id)
    return link
