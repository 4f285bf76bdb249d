"""Password rules (NIST SP 800-63B-4 §3.1.1.2, ASVS 6.2): length, blocklist, context words, no composition."""

from __future__ import annotations

import unicodedata

import pytest

from app.core import accounts as service
from app.core.password_policy import PasswordRules, normalize_password, password_problems
from app.models import User

SOLE_FACTOR = PasswordRules(min_length=15, max_length=256, service_name="Identity")
WITH_MFA = PasswordRules(min_length=8, max_length=256, service_name="Identity")
EMAIL = "margaret.hamilton@starfleet.org"
PASSPHRASE = "lantern quietly orbits marmalade"


def problems(password: str, rules: PasswordRules = SOLE_FACTOR, email: str = EMAIL) -> list[str]:
    return password_problems(password, email=email, rules=rules)


def test_a_passphrase_of_plain_lowercase_words_is_accepted_without_composition_rules():
    assert problems(PASSPHRASE) == []


def test_fourteen_characters_are_refused_when_the_password_is_the_only_factor():
    result = problems("vivid otter ja")
    assert len(result) == 1 and "at least 15 characters (you have 14)" in result[0]


def test_fifteen_characters_are_enough_when_the_password_is_the_only_factor():
    assert problems("vivid otter jam") == []


def test_with_mfa_eight_characters_are_enough():
    assert problems("Tq7#vLp2", rules=WITH_MFA) == []


def test_with_mfa_seven_characters_are_refused():
    result = problems("Tq7#vLp", rules=WITH_MFA)
    assert len(result) == 1 and "at least 8 characters (you have 7)" in result[0]


def test_the_service_applies_the_mfa_minimum_only_to_accounts_with_a_second_factor(app, monkeypatch):
    assert service.password_rules(User(email=EMAIL)).min_length == 15
    monkeypatch.setattr(service, "has_mfa", lambda _user: True)
    assert service.password_rules(User(email=EMAIL)).min_length == 8
    assert service.password_rules(None).min_length == 15


@pytest.mark.parametrize("length", [64, 72, 73, 100, 101, 256])
def test_long_passwords_up_to_the_maximum_are_accepted(length):
    words = "gorilla violin saucepan quietly orbits the lantern of marmalade "
    password = (words * 5)[:length]
    assert len(password) == length
    assert problems(password) == []


def test_a_password_over_the_maximum_length_is_refused_with_the_limit():
    password = ("gorilla violin saucepan " * 11)[:257]
    assert problems(password) == ["Use at most 256 characters."]


def test_normalization_is_nfkc():
    assert normalize_password("ｖｉｖｉｄ") == "vivid"
    assert normalize_password(unicodedata.normalize("NFD", "crème")) == "crème"


def test_length_counts_code_points_after_normalization_so_combining_marks_do_not_pad():
    decomposed = unicodedata.normalize("NFD", "crème brûlée à")
    assert len(decomposed) == 18  # four combining accents
    result = problems(decomposed)
    assert len(result) == 1 and "(you have 14)" in result[0]


def test_length_counts_code_points_not_bytes():
    greek = "Ωμέγα άλφα βήτ"  # 14 code points, 26 UTF-8 bytes
    assert len(greek.encode("utf-8")) > 15
    assert "(you have 14)" in problems(greek)[0]
    assert problems(greek + "α") == []


def test_emoji_and_other_non_ascii_characters_are_allowed():
    emoji = "🦊🐙🌵🎻🍉🚲🧊🪐🦔🍄🎲🧭🪁🐳🦉"
    assert len(emoji) == 15
    assert problems(emoji) == []


def test_fullwidth_letters_are_judged_as_their_plain_form():
    assert problems("ｐａｓｓｗｏｒｄ", rules=WITH_MFA) == [
        "This password is on a list of commonly used passwords. Choose another."
    ]


@pytest.mark.parametrize("password", ["1qaz2wsx3edc4rfv", "qazwsxedcrfvtgb", "123456789qwerty", "1QAZ2WSX3EDC4RFV"])
def test_passwords_on_the_common_list_are_refused_in_any_case(password):
    assert problems(password) == ["This password is on a list of commonly used passwords. Choose another."]


@pytest.mark.parametrize(
    ("password", "core"),
    [("Password1234567!", "password"), ("iloveyou12345678", "iloveyou"), ("!!!!sunshine2024!!!", "sunshine")],
)
def test_a_common_password_padded_with_digits_or_symbols_is_refused_naming_the_word(password, core):
    result = problems(password)
    assert len(result) == 1
    assert f"common password (“{core}”) with digits or symbols added" in result[0]


@pytest.mark.parametrize(
    ("password", "email", "word"),
    [
        ("hamilton lamp quasar", EMAIL, "hamilton"),  # a part of the email local part
        ("margaret lamp quasar", EMAIL, "margaret"),
        ("lamp quasar gracehopper", "gracehopper@navy.mil", "gracehopper"),  # the whole local part
        ("starfleet lamp quasar", EMAIL, "starfleet"),  # the email domain
        ("My Identity lamp quasar", EMAIL, "identity"),  # the service name, any case
        ("ｈａｍｉｌｔｏｎ lamp quasar", EMAIL, "hamilton"),  # after NFKC
    ],
)
def test_passwords_built_from_the_email_or_service_name_are_refused_naming_the_word(password, email, word):
    result = problems(password, email=email)
    assert len(result) == 1
    assert "email address or the service name" in result[0] and f"“{word}”" in result[0]


def test_short_fragments_of_the_email_are_not_treated_as_context_words():
    # "ab" and "cd" are too short to be meaningful; refusing every password containing them would be absurd.
    assert problems("absolutely cdrom lantern", email="ab.cd@xy.org") == []


@pytest.mark.parametrize(
    ("password", "hint"),
    [
        ("abcdefghijklmnopq", "Sequences"),
        ("aaaaaaaaaaaaaaaa", "Repeats"),
        ("julyjulyjulyjuly", "Repeats"),
        ("qwertyuiopasdfghj", "commonly used"),
        ("Passwordpassword", "commonly used"),
    ],
)
def test_easily_guessed_patterns_are_refused_with_a_reason(password, hint):
    result = problems(password)
    assert len(result) == 1
    assert hint in result[0] and "Choose something less predictable" in result[0]


def test_a_refusal_always_says_why_in_words():
    for password in ["short", "1qaz2wsx3edc4rfv", "Password1234567!", "starfleet lamp quasar", "aaaaaaaaaaaaaaaa"]:
        result = problems(password)
        assert result and all(len(reason) > 20 for reason in result)


def test_check_new_password_returns_the_normalized_form_or_raises_with_the_reasons(app):
    assert service.check_new_password("ｖｉｖｉｄ ｏｔｔｅｒ ｐｌｕｍ", email=EMAIL) == "vivid otter plum"
    with pytest.raises(service.PasswordRejected) as rejected:
        service.check_new_password("short", email=EMAIL)
    assert "at least 15 characters" in rejected.value.problems[0]
