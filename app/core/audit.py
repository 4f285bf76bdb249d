"""Emits security events: one AuditEvent row, added to the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.extensions import db
from app.models import AuditEvent, User

# Keys that must never reach the audit trail, whatever a caller passes.
_FORBIDDEN_KEYS = {"password", "token", "secret", "code", "otp", "cookie"}


# How each event reads on a person's own pages; unknown types fall back to their dotted name.
EVENT_LABELS = {
    "auth.registered": "Account created",
    "auth.register_existing": "Someone tried to register with your address",
    "auth.email_verified": "Email address confirmed",
    "auth.login": "Signed in",
    "auth.login_failed": "Failed sign-in attempt",
    "auth.locked": "Sign-in paused after repeated failures",
    "auth.logout": "Signed out",
    "account.profile_updated": "Profile updated",
    "account.email_change_requested": "Email address change requested",
    "account.email_changed": "Email address changed",
    "account.password_changed": "Password changed",
    "account.session_ended": "Ended a session from the sessions page",
    "oauth.consent_revoked": "Revoked an app's access to your account",
    "account.exported": "Downloaded a copy of your data",
    "account.deleted": "Account deleted",
    "auth.password_verified": "Password accepted; second factor asked",
    "auth.federated_verified": "Signed in through a linked account; second factor asked",
    "auth.federated_failed": "Sign-in or link through another service did not complete",
    "auth.federated_collision": "Someone signed in elsewhere with your address and was asked to sign in here first",
    "account.identity_linked": "Linked an account at another service",
    "account.identity_unlinked": "Unlinked an account at another service",
    "auth.step_up": "Confirmed with a second factor",
    "mfa.enrolled": "Second factor added",
    "mfa.browser_trusted": "Browser trusted to skip the second factor",
    "mfa.trusted_browsers_forgotten": "Trusted browsers forgotten",
    "mfa.removed": "Second factor removed",
    "mfa.recovery_codes_generated": "New recovery codes created",
    "mfa.recovery_code_used": "Signed in with a recovery code",
    "mfa.sms_sent": "Sign-in code sent by text message",
    "mfa.webauthn_clone_suspected": "A security key was refused: it may have been copied",
    "auth.password_reset_requested": "Password reset requested",
    "auth.password_reset_completed": "Password changed by reset link",
    "oauth.consent_granted": "Allowed an app to use your account",
    "oauth.consent_denied": "Declined an app's request",
    "oauth.token_issued": "An app received access",
    "oauth.token_revoked": "An app's access was revoked",
    "oauth.code_replayed": "An app's sign-in code was reused; its access was revoked",
    "oauth.refresh_replayed": "An app's old refresh token was reused; its access was revoked",
    "oauth.rp_logout": "Signed out from an app",
    "oauth.device_approved": "Approved a device",
    "oauth.device_denied": "Declined a device",
    "admin.user_created": "Account created by an operator",
    "admin.user_disabled": "Account disabled by an operator",
    "admin.user_enabled": "Account enabled by an operator",
    "admin.user_unlocked": "Sign-in unlocked by an operator",
    "admin.email_verified": "Email address marked verified by an operator",
    "admin.password_reset_sent": "An operator sent a password reset link",
    "admin.mfa_reset": "Second factors reset by an operator",
    "admin.identity_unlinked": "A linked account was removed by an operator",
    "admin.sessions_ended": "All sessions ended by an operator",
    "admin.tokens_revoked": "Apps' access revoked by an operator",
    "admin.user_invited": "Invited by an operator",
    "admin.session_ended": "Session ended by an operator",
    "admin.keys_rotated": "Signing keys rotated",
    "admin.role_created": "Role created",
    "admin.role_updated": "Role edited",
    "admin.role_deleted": "Role deleted",
    "admin.role_assigned": "Role given to the account",
    "admin.role_unassigned": "Role taken from the account",
    "admin.admin_granted": "Made an administrator",
    "admin.admin_revoked": "Administrator role removed",
    "admin.group_created": "Group created",
    "admin.group_updated": "Group edited",
    "admin.group_deleted": "Group deleted",
    "admin.group_member_added": "Added to a group",
    "admin.group_member_removed": "Removed from a group",
    "admin.group_role_added": "Role granted to a group",
    "admin.group_role_removed": "Role withdrawn from a group",
    "admin.scope_created": "Custom scope created",
    "admin.scope_deleted": "Custom scope deleted",
    "admin.client_created": "Client created by an operator",
    "admin.client_updated": "Client settings changed by an operator",
    "admin.client_secret_rotated": "Client secret rotated by an operator",
    "admin.client_disabled": "Client disabled by an operator; its tokens were revoked",
    "admin.client_enabled": "Client enabled by an operator",
    "admin.client_deleted": "Client deleted; its tokens were revoked",
    "admin.demo_seeded": "Demo account prepared",
}


def describe_event(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type)


@dataclass(frozen=True)
class Origin:
    """Where a request came from, captured by the view and handed to services."""

    ip_address: str | None = None
    user_agent: str | None = None


# What the operator's `flask ...` commands record as their origin.
CLI_ORIGIN = Origin(ip_address=None, user_agent="flask-cli")


def record_event(
    event_type: str,
    *,
    origin: Origin,
    subject: User | None = None,
    actor: User | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller commits it with the change."""
    # Word by word, so compound names (client_secret, refresh_token, new_password) are caught too.
    leaked = [key for key in details if _FORBIDDEN_KEYS.intersection(key.lower().split("_"))]
    if leaked:
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    event = AuditEvent(
        event_type=event_type,
        subject_user_id=subject.id if subject else None,
        actor_user_id=(actor or subject).id if (actor or subject) else None,
        ip_address=origin.ip_address,
        user_agent=origin.user_agent,
        details=details,
    )
    db.session.add(event)
    return event
