"""The languages the pages and emails are offered in, and how a BCP 47 tag maps onto one of them.

A profile's locale (``de-AT``), an OIDC ``ui_locales`` list (``fr-CA de``) or a browser's
Accept-Language all name languages more finely than the catalogues in ``translations/`` do; each
maps to the first offered language it shares a primary subtag with.
"""

from __future__ import annotations

from flask import current_app

# Each language in its own name, as the language switch shows it.
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français"}


def offered_language(tag: str | None) -> str | None:
    """``de-AT`` → ``de``; a language with no catalogue here → None."""
    primary = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def first_offered(tags: str | None) -> str | None:
    """The first offered language in a space-separated preference list such as OIDC's ``ui_locales``."""
    for tag in (tags or "").split()[:10]:
        language = offered_language(tag)
        if language:
            return language
    return None


def default_language() -> str:
    return current_app.config["DEFAULT_LANGUAGE"]


def language_of(person: object) -> str:
    """The language to write to someone in when they aren't looking at a page: their profile's, else the default."""
    return offered_language(getattr(person, "locale", None)) or default_language()
