"""The Hypothesis budget, the hostile-input strategies and the one property every response must have.

Profiles (IDP_HYPOTHESIS_PROFILE): "ci" (the default) keeps the whole property suite near a minute on
SQLite, derandomized so every run throws the same inputs; "thorough" throws many more, randomized, for
a hunt. No example database is written (database=None), so nothing lands in the repository.
"""

from __future__ import annotations

import os
import string
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_COMMON = {
    "deadline": None,
    "database": None,
    # One app (and one signed-in browser) per test serves all its examples: that is the point, not a leak.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=5, derandomize=True, print_blob=False, **_COMMON)
settings.register_profile("thorough", max_examples=200, derandomize=False, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("IDP_HYPOTHESIS_PROFILE", "ci"))
# Protocol endpoints are cheap to call (no sign-in per test) and the most exposed: four times the examples.
PROTOCOL = settings(max_examples=settings().max_examples * 4)

# Values known to have broken parsers somewhere: huge and unicode numbers, quotes, controls, bad escapes.
NASTY = [
    "",
    "0",
    "-1",
    "99999999999999999999",
    "1" * 5000,
    "1e309",
    "NaN",
    "²",
    "١٢",
    '"',
    "\\",
    "\x00",
    "\t",
    "\r\n",
    "%",
    "%ff",
    "%00",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "../../etc/passwd",
    "null",
    "[]",
    "{}",
    "[" * 2000,
    "a" * 3000,
    "\ud7ff\ue000\uffff",
    "\U0001f600",
    "openid profile email offline_access",
    "none login consent",
    "https://rp.example/cb",
    "javascript:alert(1)",
    "S256",
    "urn:ietf:params:oauth:grant-type:device_code",
]

# Any text a URL or form can carry (no lone surrogates: those cannot be encoded at all).
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
hostile_text = st.one_of(st.sampled_from(NASTY), any_text)
# Header values must be latin-1 without line breaks, or the test client itself refuses them.
header_text = st.one_of(
    st.sampled_from(["", "Bearer", "Bearer ", "Basic", "Basic ", "Basic ===", "Basic " + "A" * 500, "Bearer \x7f"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(lambda s: s.strip()),
)


def hostile_params(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """Known parameter names (and some invented ones) with hostile values."""
    keys = st.one_of(st.sampled_from(names), st.text(string.ascii_letters + "_[]", min_size=1, max_size=12))
    return st.dictionaries(keys, hostile_text, max_size=8)


def raw_query(names: list[str]) -> st.SearchStrategy[str]:
    """A query string with arbitrary bytes percent-encoded: invalid UTF-8 included."""
    pair = st.tuples(st.sampled_from(names), st.binary(max_size=30)).map(lambda kv: f"{kv[0]}={quote_from_bytes(kv[1])}")
    return st.lists(pair, max_size=6).map("&".join)


# JSON texts that broke or could break a parser: deep nesting, huge numbers, constants JSON does not have.
NASTY_JSON = [
    "[" * 2000 + "]" * 2000,
    '{"a":' * 1500 + "1" + "}" * 1500,
    "[" * 33 + "]" * 33,
    "1" * 5000,
    "1e999999",
    '{"scope": NaN}',
    '{"scope": Infinity}',
    '{"redirect_uris": ["https://rp.example/cb"], "scope": "openid \\"x\\""}',
    '"\\ud800"',
    "",
    "{",
    "\ufeff{}",
]
json_texts = st.one_of(st.sampled_from(NASTY_JSON), st.binary(max_size=300))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=20,
)


def assert_no_server_error(response) -> None:
    """The property: a client-side status or a success, and never a traceback or exception text."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, (response.status_code, body[:500])
    assert "Traceback" not in body and 'File "' not in body, body[:500]
