"""WebAuthn service rules on their own: single-use challenges, the RP from the issuer, the clone check, names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.mfa.webauthn import (
    WebAuthnRefused,
    clean_name,
    consume_challenge,
    issue_challenge,
    relying_party,
    relying_party_for,
)
from app.mfa.webauthn_sign_in import is_possible_clone
from app.models import WebAuthnChallenge
from app.models.base import utcnow
from app.models.mfa import ChallengePurpose


@pytest.fixture
def user(create_user):
    return create_user(email="ada@example.com")


def issued(purpose: str, user, now=None) -> WebAuthnChallenge:
    row = issue_challenge(purpose, user, now)
    db.session.commit()
    return row


def test_a_challenge_is_32_random_bytes_for_five_minutes(user):
    first, second = issued(ChallengePurpose.REGISTER, user), issued(ChallengePurpose.REGISTER, user)

    assert len(first.challenge) == 32 and first.challenge != second.challenge
    assert first.id != second.id and len(first.id) <= 32
    assert first.expires_at - first.created_at == timedelta(minutes=5)
    assert first.user_id == user.id and first.consumed_at is None


def test_a_challenge_is_used_once(user):
    row = issued(ChallengePurpose.AUTHENTICATE, user)

    assert consume_challenge(row.id, ChallengePurpose.AUTHENTICATE, user) == row.challenge
    with pytest.raises(WebAuthnRefused, match="expired"):
        consume_challenge(row.id, ChallengePurpose.AUTHENTICATE, user)
    db.session.commit()
    db.session.refresh(row)
    assert row.consumed_at is not None


def test_an_expired_challenge_is_refused(user):
    now = utcnow()
    row = issued(ChallengePurpose.AUTHENTICATE, user, now)

    assert consume_challenge(row.id, ChallengePurpose.AUTHENTICATE, user, now + timedelta(minutes=4, seconds=59)) == row.challenge
    late = issued(ChallengePurpose.AUTHENTICATE, user, now)
    with pytest.raises(WebAuthnRefused, match="expired"):
        consume_challenge(late.id, ChallengePurpose.AUTHENTICATE, user, now + timedelta(minutes=5))


@pytest.mark.parametrize("other_purpose", [ChallengePurpose.REGISTER, ChallengePurpose.PASSKEY])
def test_a_challenge_answers_only_its_own_purpose(user, other_purpose):
    row = issued(ChallengePurpose.AUTHENTICATE, user)

    with pytest.raises(WebAuthnRefused):
        consume_challenge(row.id, other_purpose, user if other_purpose != ChallengePurpose.PASSKEY else None)
    assert consume_challenge(row.id, ChallengePurpose.AUTHENTICATE, user) == row.challenge  # the refusal did not spend it


def test_a_challenge_answers_only_its_own_person(user, create_user):
    grace = create_user(email="grace@example.com")
    row = issued(ChallengePurpose.AUTHENTICATE, user)
    anonymous = issued(ChallengePurpose.PASSKEY, None)

    with pytest.raises(WebAuthnRefused):
        consume_challenge(row.id, ChallengePurpose.AUTHENTICATE, grace)
    with pytest.raises(WebAuthnRefused):
        consume_challenge(row.id, ChallengePurpose.AUTHENTICATE, None)
    with pytest.raises(WebAuthnRefused):
        consume_challenge(anonymous.id, ChallengePurpose.PASSKEY, user)
    assert consume_challenge(anonymous.id, ChallengePurpose.PASSKEY, None) == anonymous.challenge


@pytest.mark.parametrize("challenge_id", [None, "", 42, "x" * 33, ["id"], "unknown"])
def test_a_missing_or_odd_challenge_id_is_refused(app, challenge_id):
    with pytest.raises(WebAuthnRefused, match="expired"):
        consume_challenge(challenge_id, ChallengePurpose.PASSKEY, None)


def test_issuing_sweeps_expired_challenges(user):
    old = issued(ChallengePurpose.PASSKEY, None, utcnow() - timedelta(minutes=6))
    old_id = old.id

    issued(ChallengePurpose.PASSKEY, None)

    ids = set(db.session.scalars(select(WebAuthnChallenge.id)))
    assert old_id not in ids and len(ids) == 1


@pytest.mark.parametrize(
    ("issuer", "rp_id", "origin"),
    [
        ("http://localhost:5000", "localhost", "http://localhost:5000"),
        ("https://id.example.com", "id.example.com", "https://id.example.com"),
        ("https://ID.Example.com:443", "id.example.com", "https://id.example.com"),
        ("https://id.example.com:8443/", "id.example.com", "https://id.example.com:8443"),
        ("http://localhost:80", "localhost", "http://localhost"),
    ],
)
def test_the_relying_party_is_the_issuers_host_and_origin(issuer, rp_id, origin):
    rp = relying_party_for(issuer, "Identity")

    assert (rp.id, rp.origin, rp.name) == (rp_id, origin, "Identity")


def test_the_relying_party_ignores_the_request_host(app):
    with app.test_request_context("/mfa/", headers={"Host": "evil.example"}):
        rp = relying_party()

    assert rp.id == "localhost" and rp.origin == app.config["ISSUER"] == "http://localhost:5000"


@pytest.mark.parametrize(
    ("stored", "new", "clone"),
    [
        (0, 0, False),  # authenticators that never count (many passkeys)
        (0, 1, False),
        (5, 6, False),
        (5, 500, False),  # gaps are fine: the key was used elsewhere
        (5, 5, True),
        (5, 4, True),
        (5, 0, True),  # a counting key suddenly reporting zero
    ],
)
def test_a_counter_that_does_not_grow_means_a_possible_clone(stored, new, clone):
    assert is_possible_clone(stored, new) is clone


def test_names_are_trimmed_or_default_to_the_day():
    day = utcnow().replace(year=2026, month=11, day=23)

    assert clean_name("  Blue \t key  ", passkey=False) == "Blue key"
    assert clean_name("", passkey=False, now=day) == "Security key added 2026-11-23"
    assert clean_name(None, passkey=True, now=day) == "Passkey added 2026-11-23"


@pytest.mark.parametrize("name", ["x" * 101, "bell\x07", "del\x7f", 42, ["a"]])
def test_odd_names_are_refused(name):
    with pytest.raises(WebAuthnRefused, match="bad_name"):
        clean_name(name, passkey=False)
