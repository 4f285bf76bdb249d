"""Settings: the reference lists exactly what the code reads; unknown, mistyped and unsafe production settings stop start-up."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from app import settings
from app.config import PROJECT_ROOT, Config
from app.settings import ConfigError

DOC = PROJECT_ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(IDP_[A-Z0-9_<>*]+)` \| (\w+) \| ([^|]+) \|")
# Defaults the code computes from where it runs; the page says them in words.
DEFAULTS_IN_WORDS = {"IDP_INSTANCE_DIR"}
SAFE_PRODUCTION = {
    "IDP_ENV": "production",
    "IDP_ISSUER": "https://id.example.com",
    "IDP_SECRET_KEY": "s" * 48,
    "IDP_DATABASE_URL": "postgresql+psycopg://idp@127.0.0.1:5432/idp",
    "IDP_SMTP_HOST": "mail.example.com",
}


@pytest.fixture
def clean_environment(monkeypatch, tmp_path: Path):
    """Only the variables a test sets: the run's own IDP_TEST_* and any of the caller's are removed."""
    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(tmp_path))
    return monkeypatch


def documented_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, kind, default = match.groups()
            assert name not in rows, f"{name} is documented twice"
            rows[name] = (kind, default.strip())
    return rows


def known_settings(clean_environment) -> dict[str, settings.Setting]:
    Config()  # reading the settings is what records them
    return dict(settings.KNOWN)


def as_written(default: object) -> str:
    return str(default).lower() if isinstance(default, bool) else str(default)


def doc_problems(known: dict[str, settings.Setting], rows: dict[str, tuple[str, str]]) -> list[str]:
    """What docs/configuration.md gets wrong about these settings: missing, wrong type, wrong default."""
    problems = []
    for name, setting in known.items():
        if name not in rows:
            problems.append(f"{name} is read by app/config.py but missing from docs/configuration.md")
            continue
        kind, default = rows[name]
        if kind != setting.kind:
            problems.append(f"{name}: documented as {kind}, read as {setting.kind}")
        if (
            setting.default not in (None, "")
            and name not in DEFAULTS_IN_WORDS
            and not default.startswith(f"`{as_written(setting.default)}`")
        ):
            problems.append(f"{name}: documented default {default}, the code's is {setting.default!r}")
    return problems


def test_every_setting_the_code_reads_is_documented_with_its_type_and_default(clean_environment):
    assert doc_problems(known_settings(clean_environment), documented_rows()) == []


def test_the_doc_check_notices_a_new_setting_and_a_changed_default(clean_environment):
    """The check above is real: a setting read without a line, or with another default, fails it."""
    known = known_settings(clean_environment)
    known["IDP_BRAND_NEW"] = settings.Setting("IDP_BRAND_NEW", "text", None)
    known["IDP_LOCKOUT_THRESHOLD"] = settings.Setting("IDP_LOCKOUT_THRESHOLD", "integer", 7)
    assert doc_problems(known, documented_rows()) == [
        "IDP_LOCKOUT_THRESHOLD: documented default `5`, the code's is 7",
        "IDP_BRAND_NEW is read by app/config.py but missing from docs/configuration.md",
    ]


def test_nothing_is_documented_that_the_code_does_not_read(clean_environment):
    known = set(known_settings(clean_environment)) | settings.TEST_SUITE_VARIABLES
    stale = {name for name in documented_rows() if name not in known and "<" not in name}
    assert not stale, f"documented but never read: {sorted(stale)}"


# --- start-up refusals ------------------------------------------------------------------------------


def test_an_unknown_variable_stops_start_up_naming_the_closest_known_one(clean_environment):
    clean_environment.setenv("IDP_REDIS_ULR", "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match=r"unknown setting IDP_REDIS_ULR; did you mean IDP_REDIS_URL\?"):
        Config()


def test_an_unknown_variable_far_from_any_known_one_points_at_the_reference(clean_environment):
    clean_environment.setenv("IDP_FROBNICATE", "1")
    with pytest.raises(ConfigError, match="unknown setting IDP_FROBNICATE; see docs/configuration.md"):
        Config()


def test_a_social_variable_without_a_client_id_stops_start_up(clean_environment):
    clean_environment.setenv("IDP_SOCIAL_GITHUB_CLIENT_SECRET", "x")
    with pytest.raises(ConfigError, match="IDP_SOCIAL_GITHUB_CLIENT_SECRET belongs to no social sign-in provider"):
        Config()
    clean_environment.setenv("IDP_SOCIAL_GITHUB_CLIENT_ID", "abc")
    assert Config().SOCIAL_PROVIDERS == {"github": {"client_id": "abc", "client_secret": "x"}}


def test_the_test_suites_own_variables_are_not_refused(clean_environment):
    for name in settings.TEST_SUITE_VARIABLES:
        clean_environment.setenv(name, "x")
    Config()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IDP_LOCKOUT_THRESHOLD", "five", "IDP_LOCKOUT_THRESHOLD must be a whole number, not 'five'"),
        ("IDP_REQUIRE_MFA", "perhaps", "IDP_REQUIRE_MFA must be true or false"),
    ],
)
def test_a_mistyped_value_stops_start_up(clean_environment, name, value, message):
    clean_environment.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config()


def test_booleans_accept_the_usual_words(clean_environment):
    for word, expected in [("1", True), ("Yes", True), ("on", True), ("0", False), ("false", False), ("OFF", False)]:
        clean_environment.setenv("IDP_REQUIRE_MFA", word)
        assert Config().REQUIRE_MFA is expected


def test_a_safe_production_configuration_starts(clean_environment):
    for name, value in SAFE_PRODUCTION.items():
        clean_environment.setenv(name, value)
    config = Config()
    assert config.SMS_SENDER == "off"  # production never logs codes, and texts nothing until a gateway is set


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"IDP_ISSUER": "http://id.example.com"}, "IDP_ISSUER must be an https:// URL"),
        ({"IDP_DATABASE_URL": None}, "IDP_DATABASE_URL is not set"),
        ({"IDP_DATABASE_URL": "sqlite:////srv/idp/idp.sqlite3"}, "set IDP_ALLOW_SQLITE=1"),
        ({"IDP_SMTP_HOST": None}, "IDP_SMTP_HOST is not set"),
        ({"IDP_SMS_SENDER": "log"}, "IDP_SMS_SENDER=log writes one-time codes to the log"),
        ({"IDP_SECRET_KEY": None}, "IDP_SECRET_KEY must be set in production"),
    ],
)
def test_production_refuses_what_would_lose_data_or_leak_secrets(clean_environment, change, message):
    for name, value in {**SAFE_PRODUCTION, **change}.items():
        if value is not None:
            clean_environment.setenv(name, value)
    with pytest.raises((ConfigError, RuntimeError), match=re.escape(message)):
        Config()


def test_production_names_every_problem_at_once(clean_environment):
    clean_environment.setenv("IDP_ENV", "production")
    clean_environment.setenv("IDP_SECRET_KEY", "s" * 48)
    with pytest.raises(ConfigError) as refused:
        Config()
    assert str(refused.value).count("\n  - ") == 3  # issuer, database, mail


def test_production_accepts_sqlite_with_the_explicit_opt_in(clean_environment):
    for name, value in {**SAFE_PRODUCTION, "IDP_DATABASE_URL": "sqlite:////srv/idp/idp.sqlite3", "IDP_ALLOW_SQLITE": "1"}.items():
        clean_environment.setenv(name, value)
    assert Config().SQLALCHEMY_DATABASE_URI.startswith("sqlite")
