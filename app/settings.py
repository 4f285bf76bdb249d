"""Reading ``IDP_*`` environment variables, and knowing every one there is.

Every reader records the setting it reads (name, type, default) in `KNOWN`, so after `Config`
has read its settings the process knows the complete list: `check_environment` refuses a variable
that isn't on it (a typo such as ``IDP_REDIS_ULR`` would otherwise be ignored without a word), and
a test checks that docs/configuration.md describes exactly these, with these defaults. The database
URL's helpers (connect timeout, pooler mode, engine options) live here too: pure functions of settings.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import make_url

PREFIX = "IDP_"
# Read by the project's own test suite, never by the app; documented with the rest.
TEST_SUITE_VARIABLES = frozenset({"IDP_TEST_DATABASE_URL", "IDP_TEST_REDIS_URL", "IDP_HYPOTHESIS_PROFILE"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(RuntimeError):
    """The environment asks for something the server must not start with; the message says what to set."""


@dataclass(frozen=True)
class Setting:
    name: str  # with the IDP_ prefix
    kind: str  # "text", "integer", "boolean"
    default: str | int | bool | None


KNOWN: dict[str, Setting] = {}


def _read(name: str, kind: str, default: str | int | bool | None) -> str | None:
    KNOWN.setdefault(PREFIX + name, Setting(PREFIX + name, kind, default))
    return os.environ.get(PREFIX + name)


def env(name: str, default: str | None = None) -> str | None:
    value = _read(name, "text", default)
    return default if value is None else value


def env_int(name: str, default: int) -> int:
    value = _read(name, "integer", default)
    if value is None:
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must be a whole number, not {value!r}") from None


def env_bool(name: str, default: bool = False) -> bool:
    value = _read(name, "boolean", default)
    if value is None:
        return default
    word = value.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ConfigError(f"{PREFIX}{name} must be true or false (1/0, yes/no, on/off), not {value!r}")
    return word in _TRUE


def check_environment(environ: Mapping[str, str], social_names: set[str]) -> None:
    """Refuse ``IDP_*`` variables nobody reads, naming the closest known one.

    ``IDP_SOCIAL_<NAME>_*`` belongs to a provider that has a client id (its other keys are checked
    by app.core.providers); one for a name without a client id is refused here.
    """
    known = set(KNOWN) | TEST_SUITE_VARIABLES
    unknown = sorted(
        name for name in environ if name.startswith(PREFIX) and name not in known and not _is_social(name, social_names)
    )
    if unknown:
        raise ConfigError("; ".join(_unknown_message(name, known, social_names) for name in unknown))


def _is_social(name: str, social_names: set[str]) -> bool:
    return any(name.startswith(f"{PREFIX}SOCIAL_{social.upper()}_") for social in social_names)


def _unknown_message(name: str, known: set[str], social_names: set[str]) -> str:
    if name.startswith(f"{PREFIX}SOCIAL_"):
        return f"{name} belongs to no social sign-in provider (each needs IDP_SOCIAL_<NAME>_CLIENT_ID)"
    close = difflib.get_close_matches(name, sorted(known - TEST_SUITE_VARIABLES), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else "; see docs/configuration.md"
    return f"unknown setting {name}{hint}"


_SOCIAL_CLIENT_ID = re.compile(r"^IDP_SOCIAL_([A-Z0-9_]+?)_CLIENT_ID$")


def social_settings(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    """Upstream sign-in providers from ``IDP_SOCIAL_<NAME>_*``: one entry per name that has a client id.

    The name (lower-cased) is the provider's key in URLs and in linked identities, so it must stay the
    same once people have linked accounts. A variable belongs to the longest name it starts with, so
    GITHUB and GITHUB_WORK can both be configured. Checking the values is app.core.providers' job.
    """
    names = sorted((m.group(1) for m in map(_SOCIAL_CLIENT_ID.match, environ) if m), key=len, reverse=True)
    # Sorted by name: the order of the buttons on the sign-in page.
    settings: dict[str, dict[str, str]] = {name.lower(): {} for name in sorted(names)}
    for key, value in environ.items():
        owner = next((name for name in names if key.startswith(f"IDP_SOCIAL_{name}_")), None)
        if owner is not None and value:
            settings[owner.lower()][key[len(f"IDP_SOCIAL_{owner}_") :].lower()] = value
    return settings


def with_connect_timeout(url: str, seconds: int) -> str:
    """A PostgreSQL URL with ``connect_timeout`` unless it (or PGCONNECT_TIMEOUT) sets one; other URLs as they are."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or "connect_timeout" in parsed.query or "PGCONNECT_TIMEOUT" in os.environ:
        return url
    return parsed.update_query_dict({"connect_timeout": str(seconds)}).render_as_string(hide_password=False)


DATABASE_POOLERS = ("none", "transaction")


def database_pooler(value: str) -> str:
    """IDP_DATABASE_POOLER, checked: a misspelt value stops start-up instead of running unprotected."""
    pooler = value.strip().lower()
    if pooler not in DATABASE_POOLERS:
        raise ConfigError(f"IDP_DATABASE_POOLER must be one of {', '.join(DATABASE_POOLERS)}, not {value!r}")
    return pooler


def engine_options(url: str, pooler: str) -> dict[str, object]:
    """SQLAlchemy's engine options: connections tested before use, and no prepared statements behind a transaction pooler.

    psycopg 3 prepares a query on the server once it has run it prepare_threshold (5) times on one connection. A
    transaction pooler (PgBouncer before 1.21, pool_mode = transaction) may run the next transaction on another
    server connection, where that statement doesn't exist, or exists under the same name: an error either way.
    The pool stays behind a pooler too: it keeps each worker's client connections to the pooler open.
    """
    options: dict[str, object] = {"pool_pre_ping": True}
    if pooler == "transaction" and make_url(url).get_dialect().driver == "psycopg":
        options["connect_args"] = {"prepare_threshold": None}
    return options
