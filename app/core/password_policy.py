"""Password rules of NIST SP 800-63B rev 4: length, blocklist and context words, never composition."""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# zxcvbn is quadratic in length; the first 100 characters are plenty to judge guessability.
_ESTIMATE_PREFIX = 100
# zxcvbn's score 3 begins just above 10**8 guesses, which no 8-character password reaches; comparing
# guesses keeps the 8-character minimum with MFA attainable while holding everyone else to the same bar.
_MIN_GUESSES = 10**8
# zxcvbn swaps a module-global dictionary for each call's user_inputs, so threads must take turns.
_ZXCVBN_LOCK = threading.Lock()


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
    """Reasons the password is refused, in plain words; empty when it is acceptable."""
    normalized = normalize_password(password)
    length = len(normalized)  # code points, not bytes
    if length < rules.min_length:
        return [f"Use at least {rules.min_length} characters (you have {length}). A few unrelated words work well."]
    if length > rules.max_length:
        return [f"Use at most {rules.max_length} characters."]
    lowered = normalized.lower()
    if lowered in _common_passwords() or lowered.strip() in _common_passwords():
        return ["This password is on a list of commonly used passwords. Choose another."]
    # "Password1234567!" is the breached-list favourite: a common word padded with digits and symbols.
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    if core != lowered and core in _common_passwords():
        return [f"This is a common password (“{core}”) with digits or symbols added. Choose another."]
    for word in _context_words(email, rules.service_name):
        if word in lowered:
            return [f"Don't build your password from your email address or the service name (it contains “{word}”)."]
    # zxcvbn raises ValueError past its default max_length of 72: a long passphrase must not become a 500.
    user_inputs = _context_words(email, rules.service_name)
    with _ZXCVBN_LOCK:
        estimate = zxcvbn(normalized[:_ESTIMATE_PREFIX], user_inputs=user_inputs, max_length=_ESTIMATE_PREFIX)
    if estimate["guesses"] < _MIN_GUESSES:
        warning = estimate["feedback"].get("warning") or "This password follows a pattern that is easy to guess."
        return [f"{warning.rstrip('.')}. Choose something less predictable, such as several unrelated words."]
    return []
