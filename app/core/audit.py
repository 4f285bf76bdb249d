"""Emits security events: one AuditEvent row, added to the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.text import lazy_gettext
from app.extensions import db
from app.models import AuditEvent, User

# Keys that must never reach the audit trail, whatever a caller passes.
_FORBIDDEN_KEYS = {"password", "token", "secret", "code", "otp", "cookie"}


# How each event reads on a person's own pages and in the console (lazy: translated when read); unknown
# types fall back to their dotted name. The stored event type values never change.
EVENT_LABELS = {
    "auth.registered": lazy_gettext("Account created"),
    "auth.register_existing": lazy_gettext("Someone tried to register with your address"),
    "auth.email_verified": lazy_gettext("Email address confirmed"),
    "auth.login": lazy_gettext("Signed in"),
    "auth.login_failed": lazy_gettext("Failed sign-in attempt"),
    "auth.locked": lazy_gettext("Sign-in paused after repeated failures"),
    "auth.logout": lazy_gettext("Signed out"),
    "account.profile_updated": lazy_gettext("Profile updated"),
    "account.email_change_requested": lazy_gettext("Email address change requested"),
    "account.email_changed": lazy_gettext("Email address changed"),
    "account.password_changed": lazy_gettext("Password changed"),
    "account.session_ended": lazy_gettext("Ended a session from the sessions page"),
    "oauth.consent_revoked": lazy_gettext("Revoked an app's access to your account"),
    "account.exported": lazy_gettext("Downloaded a copy of your data"),
    "account.deleted": lazy_gettext("Account deleted"),
    "auth.password_verified": lazy_gettext("Password accepted; second factor asked"),
    "auth.federated_verified": lazy_gettext("Signed in through a linked account; second factor asked"),
    "auth.federated_failed": lazy_gettext("Sign-in or link through another service did not complete"),
    "auth.federated_collision": lazy_gettext("Someone signed in elsewhere with your address and was asked to sign in here first"),
    "account.identity_linked": lazy_gettext("Linked an account at another service"),
    "account.identity_unlinked": lazy_gettext("Unlinked an account at another service"),
    "auth.step_up": lazy_gettext("Confirmed with a second factor"),
    "mfa.enrolled": lazy_gettext("Second factor added"),
    "mfa.browser_trusted": lazy_gettext("Browser trusted to skip the second factor"),
    "mfa.trusted_browsers_forgotten": lazy_gettext("Trusted browsers forgotten"),
    "mfa.removed": lazy_gettext("Second factor removed"),
    "mfa.recovery_codes_generated": lazy_gettext("New recovery codes created"),
    "mfa.recovery_code_used": lazy_gettext("Signed in with a recovery code"),
    "mfa.sms_sent": lazy_gettext("Sign-in code sent by text message"),
    "mfa.webauthn_clone_suspected": lazy_gettext("A security key was refused: it may have been copied"),
    "auth.password_reset_requested": lazy_gettext("Password reset requested"),
    "auth.password_reset_completed": lazy_gettext("Password changed by reset link"),
    "oauth.consent_granted": lazy_gettext("Allowed an app to use your account"),
    "oauth.consent_denied": lazy_gettext("Declined an app's request"),
    "oauth.token_issued": lazy_gettext("An app received access"),
    "oauth.token_revoked": lazy_gettext("An app's access was revoked"),
    "oauth.code_replayed": lazy_gettext("An app's sign-in code was reused; its access was revoked"),
    "oauth.refresh_replayed": lazy_gettext("An app's old refresh token was reused; its access was revoked"),
    "oauth.rp_logout": lazy_gettext("Signed out from an app"),
    "oauth.backchannel_logout_delivered": lazy_gettext("An app was told that a session ended"),
    "oauth.backchannel_logout_failed": lazy_gettext("An app could not be told that a session ended"),
    "oauth.device_approved": lazy_gettext("Approved a device"),
    "oauth.device_denied": lazy_gettext("Declined a device"),
    "admin.user_created": lazy_gettext("Account created by an operator"),
    "admin.user_disabled": lazy_gettext("Account disabled by an operator"),
    "admin.user_enabled": lazy_gettext("Account enabled by an operator"),
    "admin.user_unlocked": lazy_gettext("Sign-in unlocked by an operator"),
    "admin.email_verified": lazy_gettext("Email address marked verified by an operator"),
    "admin.password_reset_sent": lazy_gettext("An operator sent a password reset link"),
    "admin.mfa_reset": lazy_gettext("Second factors reset by an operator"),
    "admin.identity_unlinked": lazy_gettext("A linked account was removed by an operator"),
    "admin.sessions_ended": lazy_gettext("All sessions ended by an operator"),
    "admin.tokens_revoked": lazy_gettext("Apps' access revoked by an operator"),
    "admin.user_invited": lazy_gettext("Invited by an operator"),
    "admin.session_ended": lazy_gettext("Session ended by an operator"),
    "admin.keys_rotated": lazy_gettext("Signing keys rotated"),
    "admin.role_created": lazy_gettext("Role created"),
    "admin.role_updated": lazy_gettext("Role edited"),
    "admin.role_deleted": lazy_gettext("Role deleted"),
    "admin.role_assigned": lazy_gettext("Role given to the account"),
    "admin.role_unassigned": lazy_gettext("Role taken from the account"),
    "admin.admin_granted": lazy_gettext("Made an administrator"),
    "admin.admin_revoked": lazy_gettext("Administrator role removed"),
    "admin.group_created": lazy_gettext("Group created"),
    "admin.group_updated": lazy_gettext("Group edited"),
    "admin.group_deleted": lazy_gettext("Group deleted"),
    "admin.group_member_added": lazy_gettext("Added to a group"),
    "admin.group_member_removed": lazy_gettext("Removed from a group"),
    "admin.group_role_added": lazy_gettext("Role granted to a group"),
    "admin.group_role_removed": lazy_gettext("Role withdrawn from a group"),
    "admin.scope_created": lazy_gettext("Custom scope created"),
    "admin.scope_deleted": lazy_gettext("Custom scope deleted"),
    "admin.api_created": lazy_gettext("API registered"),
    "admin.api_updated": lazy_gettext("API settings changed"),
    "admin.api_deleted": lazy_gettext("API deleted"),
    "admin.api_scope_added": lazy_gettext("Scope added to an API"),
    "admin.api_scope_removed": lazy_gettext("Scope removed from an API"),
    "admin.client_apis_changed": lazy_gettext("APIs a client may use changed"),
    "admin.client_created": lazy_gettext("Client created by an operator"),
    "admin.client_updated": lazy_gettext("Client settings changed by an operator"),
    "admin.client_secret_rotated": lazy_gettext("Client secret rotated by an operator"),
    "admin.client_disabled": lazy_gettext("Client disabled by an operator; its tokens were revoked"),
    "admin.client_enabled": lazy_gettext("Client enabled by an operator"),
    "admin.client_deleted": lazy_gettext("Client deleted; its tokens were revoked"),
    "admin.demo_seeded": lazy_gettext("Demo account prepared"),
}


def describe_event(event_type: str) -> str:
    """The event in words, in the reader's language (plain text, so JSON exports can carry it)."""
    label = EVENT_LABELS.get(event_type)
    return event_type if label is None else str(label)


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
