"""Durations as operators type them (``90d``, ``12h``, ``30m``, ``45s``) and ages as people read them."""

from __future__ import annotations

import re
from datetime import timedelta

from flask_babel import ngettext

_DURATION = re.compile(r"([1-9][0-9]{0,5})([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """A whole positive number and one unit: d(ays), h(ours), m(inutes) or s(econds); anything else is ValueError."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 90d, 12h, 30m or 45s")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def describe_age(age: timedelta) -> str:
    """The largest whole unit, in the current language: "12 days", "1 hour", "40 seconds"."""
    seconds = max(int(age.total_seconds()), 0)
    if seconds >= 86400:
        return ngettext("%(num)d day", "%(num)d days", seconds // 86400)
    if seconds >= 3600:
        return ngettext("%(num)d hour", "%(num)d hours", seconds // 3600)
    if seconds >= 60:
        return ngettext("%(num)d minute", "%(num)d minutes", seconds // 60)
    return ngettext("%(num)d second", "%(num)d seconds", seconds)
