"""Password rules of NIST SP 800-63B rev 4: length, blocklist and context words, never composition."""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from flask_babel import gettext, ngettext
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from app.core.text import lazy_gettext

# zxcvbn is quadratic in length; the first 100 characters are plenty to judge guessability.
_ESTIMATE_PREFIX = 100
# zxcvbn's score 3 begins just above 10**8 guesses, which no 8-character password reaches; comparing
# guesses keeps the 8-character minimum with MFA attainable while holding everyone else to the same bar.
_MIN_GUESSES = 10**8
# zxcvbn swaps a module-global dictionary for each call's user_inputs, so threads must take turns.
_ZXCVBN_LOCK = threading.Lock()
# zxcvbn's warnings (English only), each as the whole sentence a person reads; any other warning reads as PATTERN.
PATTERN = lazy_gettext(
    "This password follows a pattern that is easy to guess. Choose something less predictable, such as several unrelated words."
)
_WARNINGS = {
    "Straight rows of keys are easy to guess.": lazy_gettext(
        "Straight rows of keys are easy to guess. Choose something less predictable, such as several unrelated words."
    ),
    "Short keyboard patterns are easy to guess.": lazy_gettext(
        "Short keyboard patterns are easy to guess. Choose something less predictable, such as several unrelated words."
    ),
    'Repeats like "aaa" are easy to guess.': lazy_gettext(
        'Repeats like "aaa" are easy to guess. Choose something less predictable, such as several unrelated words.'
    ),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': lazy_gettext(
        'Repeats like "abcabcabc" are only slightly harder to guess than "abc". '
        "Choose something less predictable, such as several unrelated words."
    ),
    'Sequences like "abc" or "6543" are easy to guess.': lazy_gettext(
        'Sequences like "abc" or "6543" are easy to guess. Choose something less predictable, such as several unrelated words.'
    ),
    "Recent years are easy to guess.": lazy_gettext(
        "Recent years are easy to guess. Choose something less predictable, such as several unrelated words."
    ),
    "Dates are often easy to guess.": lazy_gettext(
        "Dates are often easy to guess. Choose something less predictable, such as several unrelated words."
    ),
    "This is a top-10 common password.": lazy_gettext(
        "This is a top-10 common password. Choose something less predictable, such as several unrelated words."
    ),
    "This is a top-100 common password.": lazy_gettext(
        "This is a top-100 common password. Choose something less predictable, such as several unrelated words."
    ),
    "This is a very common password.": lazy_gettext(
        "This is a very common password. Choose something less predictable, such as several unrelated words."
    ),
    "This is similar to a commonly used password.": lazy_gettext(
        "This is similar to a commonly used password. Choose something less predictable, such as several unrelated words."
    ),
    "A word by itself is easy to guess.": lazy_gettext(
        "A word by itself is easy to guess. Choose something less predictable, such as several unrelated words."
    ),
    "Names and surnames by themselves are easy to guess.": lazy_gettext(
        "Names and surnames by themselves are easy to guess. Choose something less predictable, such as several unrelated words."
    ),
    "Common names and surnames are easy to guess.": lazy_gettext(
        "Common names and surnames are easy to guess. Choose something less predictable, such as several unrelated words."
    ),
}


@dataclass(frozen=True)
class PasswordRules:
    min_length: int
    max_length: int
    service_name: str


def normalize_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards hashes the same (NIST 3.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships 30,000 of the most used passwords from public breach corpora.
    return frozenset(FREQUENCY_LISTS["passwords"])


def _context_words(email: str, service_name: str) -> list[str]:
    local, _, domain = email.lower().partition("@")
    words = [service_name.lower(), local, domain.split(".")[0]]
    words += re.split(r"[._+\-]", local)
    return sorted({w for w in words if len(w) >= 4})


def password_problems(password: str, *, email: str, rules: PasswordRules) -> list[str]:
    """Reasons the password is refused, in plain words and the current language; empty when it is acceptable."""
    normalized = normalize_password(password)
    length = len(normalized)  # code points, not bytes
    if length < rules.min_length:
        return [
            ngettext(
                "Use at least %(num)d character (you have %(length)d). A few unrelated words work well.",
                "Use at least %(num)d characters (you have %(length)d). A few unrelated words work well.",
                rules.min_length,
                length=length,
            )
        ]
    if length > rules.max_length:
        return [ngettext("Use at most %(num)d character.", "Use at most %(num)d characters.", rules.max_length)]
    lowered = normalized.lower()
    if lowered in _common_passwords() or lowered.strip() in _common_passwords():
        return [gettext("This password is on a list of commonly used passwords. Choose another.")]
    # "Password1234567!" is the breached-list favourite: a common word padded with digits and symbols.
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    if core != lowered and core in _common_passwords():
        return [gettext("This is a common password (“%(word)s”) with digits or symbols added. Choose another.", word=core)]
    for word in _context_words(email, rules.service_name):
        if word in lowered:
            return [
                gettext(
                    "Don't build your password from your email address or the service name (it contains “%(word)s”).",
                    word=word,
                )
            ]
    # zxcvbn raises ValueError past its default max_length of 72: a long passphrase must not become a 500.
    user_inputs = _context_words(email, rules.service_name)
    with _ZXCVBN_LOCK:
        estimate = zxcvbn(normalized[:_ESTIMATE_PREFIX], user_inputs=user_inputs, max_length=_ESTIMATE_PREFIX)
    if estimate["guesses"] < _MIN_GUESSES:
        return [str(_WARNINGS.get(estimate["feedback"].get("warning") or "", PATTERN))]
    return []
