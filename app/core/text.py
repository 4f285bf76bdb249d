"""Lazy translations for messages defined before any request, escaped like any other text when a template shows them.

Flask-Babel's lazy string marks itself as safe HTML (its ``__html__`` returns the text unescaped), so a
message constant shown in a page would skip autoescaping, and ``markupsafe.escape(CONSTANT)`` would not
match the page. This one escapes in ``__html__``, like a ``str``; ``str()`` gives the plain text (for JSON).
Extracted by ``pybabel extract -k lazy_gettext`` like Flask-Babel's own.
"""

from __future__ import annotations

from flask_babel import gettext
from flask_babel.speaklater import LazyString
from markupsafe import escape


class LazyText(LazyString):
    def __html__(self) -> str:
        return str(escape(str(self)))


def lazy_gettext(string: str, **variables: object) -> LazyText:
    """The message in the language of the request that shows it (English outside a request)."""
    return LazyText(gettext, string, **variables)
