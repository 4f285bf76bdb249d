"""Random tokens, digests, constant-time comparison and argon2id hashing (ASVS 11.4.2, 11.5.1)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from app import security
from app.security import (
    constant_time_equals,
    hash_password,
    new_public_id,
    new_token,
    password_context,
    token_digest,
    verify_password,
)

PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")


def _decoded_bytes(urlsafe: str) -> int:
    return len(base64.urlsafe_b64decode(urlsafe + "=" * (-len(urlsafe) % 4)))


def test_tokens_carry_at_least_128_random_bits_after_their_type_prefix():
    token = new_token(prefix="reset_")
    assert token.startswith("reset_")
    assert _decoded_bytes(token.removeprefix("reset_")) >= 16
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_tokens_never_repeat():
    assert len({new_token() for _ in range(500)}) == 500


def test_public_ids_are_128_bit_random():
    ids = {new_public_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(_decoded_bytes(value) == 16 for value in ids)


def test_token_digest_is_the_sha256_hex_of_the_token():
    token = new_token()
    digest = token_digest(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and token not in digest


def test_constant_time_equals_compares_with_hmac_compare_digest(monkeypatch):
    calls = []
    real = security.hmac.compare_digest
    monkeypatch.setattr(security.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert constant_time_equals("abc", "abc") is True
    assert constant_time_equals("abc", "abd") is False
    assert constant_time_equals("abc", "abcd") is False
    assert constant_time_equals("ключ", "ключ") is True  # non-ASCII does not raise
    assert len(calls) == 4


def test_password_hashes_are_argon2id_with_the_configured_cost(app_factory):
    app = app_factory(ARGON2_MEMORY_KIB=2048, ARGON2_TIME_COST=2)
    with app.app_context():
        match = PHC.match(hash_password("vivid otter plum"))
    assert match, "not an argon2id PHC string"
    assert match.group(1, 2, 3) == ("2048", "2", "1")


def test_production_defaults_meet_the_owasp_argon2id_floor(monkeypatch):
    from app.config import Config

    monkeypatch.setenv("IDP_SECRET_KEY", "k" * 48)
    monkeypatch.delenv("IDP_ARGON2_MEMORY_KIB", raising=False)
    monkeypatch.delenv("IDP_ARGON2_TIME_COST", raising=False)
    config = Config()
    assert config.ARGON2_MEMORY_KIB >= 19 * 1024 and config.ARGON2_TIME_COST >= 2


def test_each_hash_has_its_own_salt(app):
    first, second = hash_password("vivid otter plum"), hash_password("vivid otter plum")
    assert first != second
    assert PHC.match(first).group(4) != PHC.match(second).group(4)


def test_the_right_password_verifies_without_a_rehash(app):
    assert verify_password("vivid otter plum", hash_password("vivid otter plum")) == (True, None)


def test_a_wrong_password_does_not_verify(app):
    assert verify_password("vivid otter plun", hash_password("vivid otter plum")) == (False, None)


def test_long_passwords_are_never_truncated(app):
    shared = "gorilla violin saucepan " * 4  # 96 characters, past bcrypt's 72-byte cut-off
    assert verify_password(shared + "one", hash_password(shared + "two")) == (False, None)


def test_a_hash_made_with_old_parameters_verifies_and_is_upgraded(app, app_factory):
    old_hash = hash_password("vivid otter plum")
    assert PHC.match(old_hash).group(1, 2) == ("1024", "1")
    stronger = app_factory(ARGON2_MEMORY_KIB=2048, ARGON2_TIME_COST=2)
    with stronger.app_context():
        ok, new_hash = verify_password("vivid otter plum", old_hash)
        assert ok is True
        assert new_hash is not None and PHC.match(new_hash).group(1, 2) == ("2048", "2")
        assert verify_password("vivid otter plum", new_hash) == (True, None)
        assert verify_password("wrong otter plum", old_hash) == (False, None)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not-a-hash",
        "$argon2id$v=19$m=1024,t=1,p=1$garbage",
        "$argon2id$v=19$m=1024,t=1,p=1$" + "A" * 22 + "$" + "B" * 43,
        "$2b$12$abcdefghijklmnopqrstuu",
        "$argon2id$v=19$m=1024,t=1,p=1$WmtN6T0HIARgbI3xPsc4xw$YsAN5fW/vievN+rw",  # truncated
    ],
)
def test_a_malformed_stored_hash_is_a_failed_check_not_an_exception(app, stored):
    assert verify_password("vivid otter plum", stored) == (False, None)


def test_an_unknown_account_still_pays_for_one_real_verification(app, monkeypatch):
    context = password_context()
    verified = []
    real_verify = context.verify
    monkeypatch.setattr(context, "verify", lambda secret, hashed: verified.append(hashed) or real_verify(secret, hashed))
    assert verify_password("vivid otter plum", None) == (False, None)
    assert len(verified) == 1 and verified[0].startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_client_ids_never_start_with_a_dash_or_underscore():
    from app.core.clients import new_client_id

    ids = [new_client_id() for _ in range(2000)]

    assert all(client_id[0].isalpha() and len(client_id) == 32 for client_id in ids)
    assert len(set(ids)) == len(ids)
