"""Account deletion: revoke everything, remove the person's rows, keep an anonymised audit trail.

What stays behind is the audit trail, without a link to anyone: earlier events lose their subject
(and the IP address and user agent they carried), and one "account.deleted" event records that an
account went, under a random reference. The reference is random rather than a hash of the address:
a hash could be recomputed from an address to learn whether it ever had an account here.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from app.core.audit import Origin, record_event
from app.core.factors import delete_all_factors
from app.core.revocation import revoke_user_tokens
from app.core.sessions import revoke_user_sessions
from app.core.text import lazy_gettext
from app.extensions import db
from app.models import AuditEvent, User
from app.security import new_public_id

# Lazy: shown to the person in their language when the page is rendered.
LAST_ADMIN = lazy_gettext(
    "You are the only administrator. Make another account an administrator first, so that someone can still run this service."
)
WRONG_CONFIRMATION = lazy_gettext("Type your email address exactly as shown to confirm.")

# Detail keys that may name or locate the person (e.g. a masked phone number); dropped when anonymising.
_PERSONAL_WORDS = {"email", "phone", "name", "address", "ip", "agent"}


class DeletionRefused(Exception):
    """The account may not be deleted now; the message says why, for the person."""


def confirmation_matches(user: User, typed: str | None) -> bool:
    """The person typed their own address (case and surrounding spaces aside)."""
    return (typed or "").strip().lower() == user.email.lower()


def is_last_admin(user: User) -> bool:
    """Whether the user is an administrator and no other enabled administrator exists.

    The admin rows are locked in id order (PostgreSQL), so two administrators deleting themselves at
    the same moment queue up, and the second one sees that the first is gone.
    """
    if not user.is_admin:
        return False
    admins = db.session.scalars(
        select(User.id).where(User.is_admin.is_(True), User.is_disabled.is_(False)).order_by(User.id).with_for_update()
    )
    return not any(admin_id != user.id for admin_id in admins)


def delete_account(user: User, *, origin: Origin) -> str:
    """Delete the user and everything that is theirs, in the caller's transaction; returns the audit reference.

    Raises DeletionRefused (nothing changed) for the last administrator. The caller commits.
    """
    if is_last_admin(user):
        raise DeletionRefused(LAST_ADMIN)
    user_id = user.id
    revoke_user_sessions(user, reason="account_deleted")  # apps signed in through them are told
    revoke_user_tokens(user)  # refresh families revoked, every live access token deny-listed
    db.session.flush()  # the deny-list rows are written before the rows they came from go
    _anonymise_events(user_id)
    delete_all_factors(user)  # the registry's own list first; the sweep below catches every other table
    _delete_rows_naming_user(user_id)
    db.session.execute(delete(User).where(User.id == user_id))
    account_ref = new_public_id()
    # The request's IP is kept (not its user agent): a deletion by someone holding a stolen session is
    # exactly what an operator would investigate, and the address alone no longer leads to a person.
    record_event("account.deleted", origin=Origin(ip_address=origin.ip_address), account_ref=account_ref)
    return account_ref


def _anonymise_events(user_id: int) -> None:
    """Earlier events about the person stay (the service's own security record) but no longer point to them."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_user_id == user_id))
    for event in events:
        event.subject_user_id = None
        event.ip_address = None
        event.user_agent = None
        event.details = {key: value for key, value in (event.details or {}).items() if not _is_personal(key)}
        if event.actor_user_id == user_id:
            event.actor_user_id = None
    # Events where they acted on someone else (an admin's work) belong to that other person's history: only
    # the link to the deleted account goes (ON DELETE SET NULL would do it too; this does not rely on it).
    db.session.execute(
        update(AuditEvent).where(AuditEvent.actor_user_id == user_id).values(actor_user_id=None),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()


def _is_personal(key: str) -> bool:
    return bool(_PERSONAL_WORDS.intersection(key.lower().split("_")))


def _delete_rows_naming_user(user_id: int) -> None:
    """Delete every row that belongs to the user (sessions, factors, consents, tokens, codes), dependents first.

    Today every such foreign key is ON DELETE CASCADE; deleting explicitly keeps that true for a table
    added later without it (which would otherwise block the deletion). Keys that are SET NULL (the
    audit trail) mark rows that outlive the person, so those are left to the database.
    """
    for table in reversed(db.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table.name == User.__tablename__ and (fk.ondelete or "").upper() != "SET NULL":
                db.session.execute(delete(table).where(fk.parent == user_id))
