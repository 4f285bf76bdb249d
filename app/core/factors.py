"""The factor registry: the one place that knows which second factors exist and what each holds.

The mfa blueprint describes each factor (TOTP, security keys and passkeys, SMS, recovery codes) as a
`FactorPlugin`, and the application factory registers them (`init_factors`). Everything else asks
the registry: whether a person has a second factor, the console's "without MFA" filter and its list
of a person's factors, the admin's MFA reset, the data export and account deletion. Adding a factor
touches only its plugin, its module, its views and its templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, delete, event, false, or_, select
from sqlalchemy.orm import ORMExecuteState, Session

from app.extensions import db
from app.models import Base, User

# SMS can be intercepted or redirected (SIM swap): never an admin's only factor (docs/security.md, NIST 4.2).
RESTRICTED_KINDS = frozenset({"sms"})

# RFC 8176 method references a factor adds to a session's amr.
AMR = {"totp": "otp", "recovery": "otp", "sms": "sms", "webauthn": "hwk", "passkey": "hwk"}

_EXTENSION = "idp_factors"
# Per database session (one per request): the kinds each person has, read at most once between writes.
_CACHE_KEY = "idp_enrolled_kinds"


@dataclass(frozen=True)
class FactorInfo:
    """What the console may show of a factor: never a secret, a number or a key."""

    kind: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


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
    # The tables holding a person's rows of this factor (each has user_id): emptied by a reset or deletion.
    tables: tuple[type[Base], ...]
    # SQL, correlated to User: the person has this factor as a second factor. None: it only stands in for
    # one (recovery codes), and goes when the last real factor goes.
    enrolled_when: Callable[[], ColumnElement[bool]] | None = None
    # This factor's part of the person's data export (no secret, digest or seed).
    export: Callable[[User], dict[str, Any]] = lambda _user: {}
    # This factor's lines on the console's page about the person.
    describe: Callable[[User], list[FactorInfo]] = lambda _user: []
    # What the factor's section on the security page shows about this person (counts, lists).
    manage_context: Callable[[User], dict[str, object]] | None = None


@dataclass
class FactorRegistry:
    plugins: list[FactorPlugin] = field(default_factory=list)


def init_factors(app: Flask, factor_plugins: Iterable[FactorPlugin]) -> None:
    """Register the factors for this app, in their display order; called once by the factory."""
    app.extensions[_EXTENSION] = FactorRegistry(sorted(factor_plugins, key=lambda plugin: plugin.order))
    if not event.contains(Session, "after_flush", _forget_enrolment):
        event.listen(Session, "after_flush", _forget_enrolment)
        event.listen(Session, "after_commit", _forget_enrolment)
        event.listen(Session, "after_rollback", _forget_enrolment)
        event.listen(Session, "do_orm_execute", _forget_after_bulk_write)


def plugins() -> list[FactorPlugin]:
    return current_app.extensions[_EXTENSION].plugins


def challenge_plugins(user: User) -> list[FactorPlugin]:
    return [p for p in plugins() if p.challenge_template and p.can_challenge(user)]


def _second_factors() -> list[FactorPlugin]:
    return [p for p in plugins() if p.enrolled_when is not None]


def enrolled_factor_kinds(user: User) -> list[str]:
    """The factors that count as a second factor (confirmed TOTP, a WebAuthn credential, a verified phone).

    One query for all of them, remembered until the session next writes: a page may ask many times.
    """
    cache = db.session.info.setdefault(_CACHE_KEY, {})
    if user.id not in cache:
        factors = _second_factors()
        row = (
            factors
            and db.session.execute(
                select(*(p.enrolled_when().label(p.kind) for p in factors)).select_from(User).where(User.id == user.id)
            ).one_or_none()
        )
        cache[user.id] = [p.kind for p in factors if row and row._mapping[p.kind]]
    return list(cache[user.id])


def has_mfa(user: User) -> bool:
    """Whether a second factor is enrolled (recovery codes alone are not one)."""
    return bool(enrolled_factor_kinds(user))


def any_factor_enrolled() -> ColumnElement[bool]:
    """SQL, correlated to User: the person has a second factor (the rule of enrolled_factor_kinds)."""
    clauses = [p.enrolled_when() for p in _second_factors()]
    return or_(*clauses) if clauses else false()


def delete_factor_rows(user: User, plugin: FactorPlugin) -> int:
    """Delete every row the factor holds for the person; how many rows of its first table went."""
    counts = [
        db.session.execute(delete(table).where(table.user_id == user.id).execution_options(synchronize_session=False)).rowcount
        for table in plugin.tables
    ]
    return counts[0] if counts else 0


def delete_all_factors(user: User) -> dict[str, int]:
    """Every factor of the person, and what stands in for them, gone (an admin's reset, a deletion)."""
    return {plugin.kind: delete_factor_rows(user, plugin) for plugin in plugins()}


def forget_stand_ins_without_factor(user: User) -> None:
    """Call after removing a factor, in the same transaction: recovery codes stand in for a factor,
    and with none left they would be a second way in that the security page no longer shows."""
    db.session.flush()
    if not enrolled_factor_kinds(user):
        for plugin in plugins():
            if plugin.enrolled_when is None:
                delete_factor_rows(user, plugin)


def export_factors(user: User) -> dict[str, Any]:
    """Each factor's part of the data export, in display order."""
    exported: dict[str, Any] = {}
    for plugin in plugins():
        exported.update(plugin.export(user))
    return exported


def describe_factors(user: User) -> list[FactorInfo]:
    """Every factor line the console shows about the person, in display order."""
    return [info for plugin in plugins() for info in plugin.describe(user)]


def _forget_enrolment(session: Session, *_args: object) -> None:
    session.info.pop(_CACHE_KEY, None)


def _forget_after_bulk_write(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        _forget_enrolment(state.session)
