"""Managing people from the console: find them, look at one, and act on their account. No request objects here.

Every action writes its audit event (the admin as actor, the person as subject) in the caller's
transaction; the caller commits, then sends any mail. The command line calls the same functions
with no actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from app.admin.sorting import Sort, SortableColumns
from app.core.accounts import find_user_by_email, normalize_email
from app.core.audit import Origin, record_event
from app.core.deletion import is_last_admin
from app.core.email_tokens import issue_email_token
from app.core.factors import FactorInfo, any_factor_enrolled, delete_all_factors, describe_factors
from app.core.federation import links_of
from app.core.live_sessions import ActiveSession, active_sessions
from app.core.paging import Page, page_offset
from app.core.revocation import revoke_user_tokens
from app.core.sessions import revoke_user_sessions
from app.core.text import lazy_gettext
from app.core.trusted_browsers import forget_trusted_browsers
from app.extensions import db
from app.models import (
    AuditEvent,
    EmailTokenPurpose,
    Group,
    LinkedIdentity,
    OAuthConsent,
    RecoveryCode,
    Role,
    User,
    UserSession,
    group_members,
    group_roles,
    user_roles,
)
from app.models.base import utcnow

PAGE_SIZE = 25
RECENT_EVENTS = 20
# The list's filters, keyed as they appear in the query string.
FILTERS = {
    "disabled": lazy_gettext("Disabled"),
    "locked": lazy_gettext("Locked"),
    "unverified": lazy_gettext("Unverified"),
    "no_mfa": lazy_gettext("Without MFA"),
}

LAST_ADMIN = lazy_gettext("This is the last enabled administrator. Make another account an administrator first.")
ACCOUNT_EXISTS = lazy_gettext("An account with that email address already exists.")
# A person's latest sign-in, from the audit trail (the one place that keeps it; sessions end and are pruned).
LAST_SIGN_IN = (
    select(func.max(AuditEvent.created_at))
    .where(AuditEvent.subject_user_id == User.id, AuditEvent.event_type == "auth.login")
    .correlate(User)
    .scalar_subquery()
)
USER_SORTS = SortableColumns(
    {"email": func.lower(User.email), "created": User.created_at, "last_sign_in": LAST_SIGN_IN},
    default=Sort("created", descending=True),
    newest_first=frozenset({"created", "last_sign_in"}),
)


class ActionRefused(Exception):
    """The action would break a guard rail; nothing changed. The message says why, for the admin."""


# --- Finding people ---


@dataclass(frozen=True)
class UserRow:
    user: User
    has_mfa: bool
    is_locked: bool
    last_sign_in: datetime | None


def _filtered(query: Select, search: str, filters: set[str], now: datetime) -> Select:
    if search:
        # Escaped, so a % or _ typed by the admin matches itself rather than anything.
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        names = (User.email, User.display_name, User.given_name, User.family_name)
        query = query.where(or_(*(func.lower(column).like(pattern, escape="\\") for column in names)))
    if "disabled" in filters:
        query = query.where(User.is_disabled.is_(True))
    if "locked" in filters:
        query = query.where(User.locked_until > now)
    if "unverified" in filters:
        query = query.where(User.email_verified_at.is_(None))
    if "no_mfa" in filters:
        query = query.where(~any_factor_enrolled())
    return query


def search_users(
    search: str, filters: set[str], page: int, now: datetime | None = None, sort: Sort = USER_SORTS.default
) -> Page[UserRow] | None:
    """One page of matching people in ``sort``'s order; None when the page does not exist (page 1 always does)."""
    now = now or utcnow()
    total = db.session.scalar(_filtered(select(func.count(User.id)), search.strip(), filters, now)) or 0
    offset = page_offset(total, page, PAGE_SIZE)
    if offset is None:
        return None
    query = _filtered(select(User, any_factor_enrolled().label("has_mfa"), LAST_SIGN_IN), search.strip(), filters, now)
    rows = db.session.execute(USER_SORTS.apply(query, sort, User.id).limit(PAGE_SIZE).offset(offset))
    entries = [UserRow(user, bool(has_mfa), user.is_locked(now), last) for user, has_mfa, last in rows]
    return Page(entries, page, PAGE_SIZE, total)


# --- One person ---


@dataclass(frozen=True)
class UserDetail:
    user: User
    own_roles: list[Role]
    groups: list[Group]
    effective_roles: list[str]
    factors: list[FactorInfo]
    recovery_codes_left: int
    linked_accounts: list[LinkedIdentity]
    has_password: bool
    sessions: list[ActiveSession]
    consents: list[OAuthConsent]
    events: list[AuditEvent]


def _effective_roles(user: User) -> list[str]:
    own = select(Role.name).join(user_roles, user_roles.c.role_id == Role.id).where(user_roles.c.user_id == user.id)
    via_groups = (
        select(Role.name)
        .join(group_roles, group_roles.c.role_id == Role.id)
        .join(group_members, group_members.c.group_id == group_roles.c.group_id)
        .where(group_members.c.user_id == user.id)
    )
    return sorted(set(db.session.scalars(own.union(via_groups))))


def user_detail(user: User, *, current: UserSession) -> UserDetail:
    """Everything the user's page shows; `current` is the admin's own session (marked if it is one of these)."""
    own_roles = db.session.scalars(
        select(Role).join(user_roles, user_roles.c.role_id == Role.id).where(user_roles.c.user_id == user.id).order_by(Role.name)
    )
    groups = db.session.scalars(
        select(Group)
        .join(group_members, group_members.c.group_id == Group.id)
        .where(group_members.c.user_id == user.id)
        .order_by(Group.name)
    )
    unused_codes = select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    consents = db.session.scalars(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id).order_by(OAuthConsent.granted_at.desc())
    )
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_user_id == user.id).order_by(AuditEvent.id.desc()).limit(RECENT_EVENTS)
    )
    return UserDetail(
        user=user,
        own_roles=list(own_roles),
        groups=list(groups),
        effective_roles=_effective_roles(user),
        factors=describe_factors(user),
        recovery_codes_left=db.session.scalar(unused_codes) or 0,
        linked_accounts=links_of(user),
        has_password=bool(user.password_hash),
        sessions=active_sessions(user, current=current),
        consents=list(consents),
        events=list(events),
    )


# --- Actions (the caller commits; actor None means the command line) ---
# Each takes the same keywords, so the console dispatches them alike; `keep` is the admin's own
# session, spared by the actions that end sessions when the admin acts on their own account.


def disable_user(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    """Disable the account and end everything it holds: its sessions and every app's tokens."""
    if is_last_admin(user):
        raise ActionRefused(LAST_ADMIN)
    user.is_disabled = True
    sessions = revoke_user_sessions(user, reason="account_disabled")
    forget_trusted_browsers(user, origin=origin, reason="account_disabled")
    families = revoke_user_tokens(user)
    record_event(
        "admin.user_disabled", origin=origin, actor=actor, subject=user, sessions_ended=sessions, app_grants_ended=families
    )


def enable_user(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    user.is_disabled = False
    record_event("admin.user_enabled", origin=origin, actor=actor, subject=user)


def unlock_user(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    """Lift a lockout after failed sign-ins; the failure count starts again from zero."""
    user.failed_login_count = 0
    user.locked_until = None
    record_event("admin.user_unlocked", origin=origin, actor=actor, subject=user)


def mark_email_verified(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    record_event("admin.email_verified", origin=origin, actor=actor, subject=user)


def start_password_reset(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> str:
    """Issue a reset link (as the forgot-password page does); returns the token for the mail sent after commit."""
    if user.is_disabled:
        raise ActionRefused(lazy_gettext("The account is disabled: enable it before sending a reset link."))
    token = issue_email_token(user, EmailTokenPurpose.RESET)
    record_event("admin.password_reset_sent", origin=origin, actor=actor, subject=user)
    return token


def reset_mfa(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    """Remove every second factor and recovery code, and end the sessions they protected.

    `keep`: the admin's own session, kept when they reset their own account (the console then asks
    them to enrol a factor again before it lets them back in).
    """
    codes = delete_all_factors(user)["recovery"]
    sessions = revoke_user_sessions(user, keep=keep, reason="mfa_reset")
    forget_trusted_browsers(user, origin=origin, reason="mfa_reset")
    record_event(
        "admin.mfa_reset", origin=origin, actor=actor, subject=user, recovery_codes_deleted=codes, sessions_ended=sessions
    )


def linked_identity_of(user: User, link_id: int) -> LinkedIdentity | None:
    """One of the person's linked accounts; None when the link isn't theirs."""
    return db.session.scalar(select(LinkedIdentity).where(LinkedIdentity.id == link_id, LinkedIdentity.user_id == user.id))


def unlink_identity_for(user: User, link_id: int, *, actor: User | None, origin: Origin) -> LinkedIdentity | None:
    """An operator removes one of the person's linked accounts (one they lost, or one taken over upstream).

    Unlike the person's own unlink, this may remove the last way in: the operator can send a reset link
    next. None when the link isn't this person's.
    """
    link = linked_identity_of(user, link_id)
    if link is None:
        return None
    db.session.delete(link)
    record_event("admin.identity_unlinked", origin=origin, actor=actor, subject=user, provider=link.provider, link_id=link.id)
    return link


def end_user_sessions(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    """Sign every browser out (the admin's own stays when they act on themselves)."""
    sessions = revoke_user_sessions(user, keep=keep, reason="ended_by_operator")
    record_event("admin.sessions_ended", origin=origin, actor=actor, subject=user, sessions_ended=sessions)


def revoke_tokens(user: User, *, actor: User | None, origin: Origin, keep: UserSession | None = None) -> None:
    families = revoke_user_tokens(user)
    record_event("admin.tokens_revoked", origin=origin, actor=actor, subject=user, app_grants_ended=families)


def invite_user(email: str, display_name: str, is_admin: bool, *, actor: User | None, origin: Origin) -> tuple[User, str]:
    """Create an account without a password and return it with a reset token: the person chooses their own.

    The email stays unverified until the link is used (using it proves the address).
    """
    email = normalize_email(email)
    if find_user_by_email(email) is not None:
        raise ActionRefused(ACCOUNT_EXISTS)
    user = User(email=email, display_name=display_name.strip(), password_hash=None, is_admin=is_admin)
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        # Two admins inviting one address at once: the unique index lets one in; the other is told.
        raise ActionRefused(ACCOUNT_EXISTS) from None
    token = issue_email_token(user, EmailTokenPurpose.RESET)
    record_event("admin.user_invited", origin=origin, actor=actor, subject=user, admin=is_admin)
    return user, token
