"""The message catalogues: every string the code and templates mark is translated, in every offered language.

The catalogues in translations/ are checked against a fresh extraction (babel.cfg, the keywords
docs/translations.md gives), so a string added without a translation, a translation left fuzzy, or a
placeholder lost or renamed in translation fails here rather than showing English (or a KeyError) on
a page. Plural forms are checked by count, as each language's Plural-Forms header asks.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.config import PROJECT_ROOT
from app.core.languages import LANGUAGES

TRANSLATED = sorted(set(LANGUAGES) - {"en"})
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def catalogue_path(language: str):
    return PROJECT_ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"


def searched(path: str) -> bool:
    """Every folder but hidden ones and caches: Babel's default also skips templates/_macros."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return not name.startswith(".") and name != "__pycache__"


@cache
def extracted() -> dict[str, tuple[str, ...]]:
    """msgid → (msgid, msgid_plural?) for every marked string in app/ and templates/."""
    with open(PROJECT_ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, tuple[str, ...]] = {}
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=searched
    ):
        forms = (message,) if isinstance(message, str) else tuple(message)
        found[forms[0]] = forms
    return found


@cache
def catalogue(language: str) -> Catalog:
    with open(catalogue_path(language), "rb") as source:
        return read_po(source, locale=language)


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def test_the_code_marks_strings_for_translation():
    assert len(extracted()) > 300  # pages, emails, messages: not a handful


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalogue_holds_exactly_what_the_code_marks(language):
    held = {message.id if isinstance(message.id, str) else message.id[0] for message in catalogue(language) if message.id}
    missing = sorted(set(extracted()) - held)
    stale = sorted(held - set(extracted()))
    assert not missing, f"{language}: not in the catalogue (pybabel update, docs/translations.md): {missing[:20]}"
    assert not stale, f"{language}: in the catalogue but no longer in the code: {stale[:20]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(language):
    untranslated, fuzzy = [], []
    for message in catalogue(language):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"{language}: untranslated: {untranslated[:20]}"
    assert not fuzzy, f"{language}: fuzzy (check, then drop the flag): {fuzzy[:20]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder_and_each_plural_form(language):
    problems = []
    plural_count = catalogue(language).num_plurals
    for message in catalogue(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if len(ids) > 1 and len(strings) != plural_count:
            problems.append(f"{ids[0]!r}: {len(strings)} plural forms, {language} has {plural_count}")
        wanted = placeholders(ids[0]) | placeholders(ids[-1])
        for text in strings:
            # A singular form may say "one" instead of %(num)d; nothing may appear that the code doesn't pass.
            if not placeholders(text) <= wanted or (len(ids) == 1 and placeholders(text) != wanted):
                problems.append(f"{ids[0]!r} → {text!r}: placeholders {sorted(placeholders(text))}, expected {sorted(wanted)}")
    assert not problems, "\n".join(problems[:20])
