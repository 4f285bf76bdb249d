"""The federation rules without HTTP: who a provider's identity signs in, when accounts are made, link and unlink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core import federation
from app.core.accounts import SignIn
from app.core.audit import Origin
from app.core.providers import UpstreamIdentity, find_provider
from app.extensions import db
from app.models import AuditEvent, LinkedIdentity, User, WebAuthnCredential
from app.models.base import utcnow
from tests.conftest import audit_types
from tests.integration.mfa.conftest import add_totp

ORIGIN = Origin(ip_address="198.51.100.9", user_agent="pytest")
PROVIDERS = {
    "github": {"client_id": "gh", "client_secret": "gh-secret"},
    "corp": {"client_id": "corp", "client_secret": "corp-secret", "issuer": "https://login.corp.example"},
}


@pytest.fixture
def app(app_factory) -> Iterator[Flask]:
    app = app_factory(SOCIAL_PROVIDERS=PROVIDERS)
    with app.app_context():
        yield app


def github():
    return find_provider("github")


def identity(subject: str = "1001", email: str = "octo@example.com", verified: bool = True) -> UpstreamIdentity:
    return UpstreamIdentity(subject=subject, email=email, email_verified=verified, username="octocat", name="The Octocat")


def link(user: User, provider: str = "github", subject: str = "1001") -> LinkedIdentity:
    row = LinkedIdentity(user_id=user.id, provider=provider, subject=subject, email=user.email, username="handle")
    db.session.add(row)
    db.session.commit()
    return row


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- signing in -----------------------------------------------------------------------------------


def test_an_account_made_by_a_parallel_first_sign_in_between_the_lookups_is_signed_in_not_a_collision(
    app, create_user, monkeypatch
) -> None:
    """Two tabs finishing one first sign-in: this one found no link, then the other committed the account and
    its link before this one looked the address up. The address is this very upstream account's, not a
    collision with someone else's account."""
    real_lookup = federation.find_user_by_email

    def the_other_tab_commits_first(email: str):
        link(create_user(email=email, password=None))  # what the winning tab committed meanwhile
        return real_lookup(email)

    monkeypatch.setattr(federation, "find_user_by_email", the_other_tab_commits_first)

    outcome = federation.sign_in_with(github(), identity(), origin=ORIGIN)

    assert isinstance(outcome, SignIn) and outcome.user.email == "octo@example.com"
    assert "auth.federated_collision" not in audit_types()


def test_a_linked_identity_signs_its_person_in_with_amr_fed(app, create_user) -> None:
    user = create_user()
    row = link(user)
    result = federation.sign_in_with(github(), identity(email="changed@example.com"), origin=ORIGIN)
    db.session.commit()
    assert isinstance(result, SignIn) and result.user.id == user.id
    assert result.user_session.amr == ["fed"] and result.user_session.pending is None
    assert row.last_used_at is not None and row.email == "changed@example.com"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == "auth.login")).one()
    assert event.details == {"session_id": result.user_session.id, "amr": ["fed"], "provider": "github"}


def test_a_person_with_a_factor_still_owes_the_challenge(app, create_user) -> None:
    user = create_user(failed_login_count=3)
    add_totp(app, user)
    link(user)
    result = federation.sign_in_with(github(), identity(), origin=ORIGIN)
    db.session.commit()
    assert result.user_session.pending == "mfa"
    assert db.session.get(User, user.id).failed_login_count == 3  # kept until the challenge is passed
    assert "auth.login" not in audit_types(user) and "auth.federated_verified" in audit_types(user)


@pytest.mark.parametrize("reason", ["disabled", "locked"])
def test_disabled_or_locked_accounts_are_refused(app, create_user, reason: str) -> None:
    # The lock is set here, not at collection: a long run would otherwise reach this test after it ended.
    columns = {"is_disabled": True} if reason == "disabled" else {"locked_until": utcnow() + timedelta(minutes=5)}
    user = create_user(**columns)
    link(user)
    with pytest.raises(federation.FederationRefused) as refused:
        federation.sign_in_with(github(), identity(), origin=ORIGIN)
    assert refused.value.reason == reason
    db.session.commit()
    assert audit_types(user) == ["auth.federated_failed"]


def test_a_new_identity_with_a_verified_address_creates_an_account_without_a_password(app) -> None:
    result = federation.sign_in_with(github(), identity(email="  New.Person@example.com "), origin=ORIGIN)
    db.session.commit()
    user = result.user
    assert user.email == "New.Person@example.com" and user.is_email_verified and user.password_hash is None
    assert user.display_name == "The Octocat"
    assert [(row.provider, row.subject) for row in federation.links_of(user)] == [("github", "1001")]
    assert audit_types(user) == ["auth.registered", "account.identity_linked", "auth.login"]


@pytest.mark.parametrize(("email", "verified"), [("octo@example.com", False), ("", True)])
def test_no_account_is_made_from_an_unverified_or_missing_address(app, email: str, verified: bool) -> None:
    with pytest.raises(federation.FederationRefused) as refused:
        federation.sign_in_with(github(), identity(email=email, verified=verified), origin=ORIGIN)
    assert refused.value.reason == "unverified_email"
    assert count(User) == 0 and count(LinkedIdentity) == 0


def test_closed_registration_makes_no_account(app_factory) -> None:
    app = app_factory(SOCIAL_PROVIDERS=PROVIDERS, REGISTRATION_OPEN=False)
    with app.app_context():
        with pytest.raises(federation.FederationRefused) as refused:
            federation.sign_in_with(find_provider("github"), identity(), origin=ORIGIN)
        assert refused.value.reason == "registration_closed"
        assert count(User) == 0


def test_an_address_that_has_an_account_is_never_linked_automatically(app, create_user) -> None:
    owner = create_user(email="Octo@Example.com")
    result = federation.sign_in_with(github(), identity(email="octo@example.com"), origin=ORIGIN)
    db.session.commit()
    assert isinstance(result, federation.PendingLink)
    assert (result.provider, result.subject, result.email) == ("github", "1001", "octo@example.com")
    assert count(LinkedIdentity) == 0 and count(User) == 1
    assert audit_types(owner) == ["auth.federated_collision"]


def test_a_pending_link_needs_a_sign_in_after_the_upstream_proof_and_expires(app) -> None:
    pending = federation.PendingLink.of(github(), identity())
    session_row = SignInSession(auth_time=utcnow())
    assert pending.is_usable_by(session_row)
    assert not pending.is_usable_by(SignInSession(auth_time=utcnow() - timedelta(minutes=1)))  # signed in before
    later = utcnow() + federation.PENDING_LINK_TTL + timedelta(seconds=1)
    assert not pending.is_usable_by(session_row, now=later)
    assert federation.PendingLink.from_session(pending.to_session()) == pending
    assert federation.PendingLink.from_session({"provider": "github"}) is None
    assert federation.PendingLink.from_session("junk") is None


class SignInSession:
    def __init__(self, auth_time) -> None:
        self.auth_time = auth_time


# --- linking and unlinking ------------------------------------------------------------------------


def test_an_identity_linked_to_someone_else_cannot_be_linked_again(app, create_user) -> None:
    owner, other = create_user(), create_user()
    link(owner)
    with pytest.raises(federation.FederationRefused) as refused:
        federation.link_identity(other, github(), identity(), origin=ORIGIN)
    assert refused.value.reason == "linked_elsewhere"
    assert [row.user_id for row in db.session.scalars(select(LinkedIdentity))] == [owner.id]


def test_linking_twice_to_the_same_person_keeps_one_row(app, create_user) -> None:
    user = create_user()
    first = federation.link_identity(user, github(), identity(), origin=ORIGIN)
    again = federation.link_identity(user, github(), identity(), origin=ORIGIN)
    db.session.commit()
    assert first.id == again.id and count(LinkedIdentity) == 1


def test_the_last_way_to_sign_in_cannot_be_unlinked(app, create_user) -> None:
    user = create_user(password=None)
    only = link(user)
    with pytest.raises(federation.UnlinkRefused):
        federation.unlink_identity(user, only.id, origin=ORIGIN)
    db.session.rollback()
    assert count(LinkedIdentity) == 1


def test_a_link_to_a_provider_no_longer_configured_is_not_a_way_in(app, create_user) -> None:
    user = create_user(password=None)
    current = link(user)
    link(user, provider="retired", subject="x")
    assert federation.sign_in_methods(user, without_link=current.id) == []
    with pytest.raises(federation.UnlinkRefused):
        federation.unlink_identity(user, current.id, origin=ORIGIN)


@pytest.mark.parametrize("other_way", ["password", "passkey", "second link"])
def test_unlinking_is_allowed_while_another_way_in_remains(app, create_user, other_way: str) -> None:
    user = create_user() if other_way == "password" else create_user(password=None)
    target = link(user)
    if other_way == "passkey":
        db.session.add(
            WebAuthnCredential(
                user_id=user.id, credential_id="Y3JlZA", public_key=b"key", sign_count=0, name="Laptop", is_passkey=True
            )
        )
        db.session.commit()
    if other_way == "second link":
        link(user, provider="corp", subject="corp-1")
    removed = federation.unlink_identity(user, target.id, origin=ORIGIN)
    db.session.commit()
    assert removed is not None and db.session.get(LinkedIdentity, target.id) is None
    assert audit_types(user)[-1] == "account.identity_unlinked"


def test_someone_elses_link_is_not_found(app, create_user) -> None:
    owner, other = create_user(), create_user()
    row = link(owner)
    assert federation.unlink_identity(other, row.id, origin=ORIGIN) is None
    assert db.session.get(LinkedIdentity, row.id) is not None
