"""Settings read from ``IDP_*`` environment variables, with safe single-machine defaults."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import make_url

from app.settings import ConfigError, check_environment, database_pooler, engine_options, social_settings, with_connect_timeout
from app.settings import env as _env
from app.settings import env_bool as _env_bool
from app.settings import env_int as _env_int

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


def load_or_create_secret(instance_dir: Path) -> str:
    """Read the generated secret key from instance/, creating it once (never a fixed fallback)."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


def refuse_unsafe_production(config: Config) -> None:
    """Stop a production start-up that would lose data or leak secrets, saying what to set instead."""
    problems = []
    if not config.ISSUER.startswith("https://"):
        problems.append("IDP_ISSUER must be an https:// URL in production (cookies, redirects and tokens depend on it)")
    if make_url(config.SQLALCHEMY_DATABASE_URI).get_backend_name() == "sqlite" and not config.ALLOW_SQLITE:
        problems.append(
            "IDP_DATABASE_URL is not set, so the server would keep everything in a SQLite file that a new container loses: "
            "set it to a PostgreSQL URL, or set IDP_ALLOW_SQLITE=1 for a single machine with a persistent disk"
        )
    if not config.SMTP_HOST:
        problems.append("IDP_SMTP_HOST is not set, so emails (reset links included) would only be written to the log")
    if config.SMS_SENDER == "log":
        problems.append(
            "IDP_SMS_SENDER=log writes one-time codes to the log: set IDP_SMS_SENDER=http (with IDP_SMS_HTTP_*) "
            "or IDP_SMS_SENDER=off to not offer text messages"
        )
    for name in ("CLIENT_ID_METADATA_ALLOW_HTTP", "CLIENT_ID_METADATA_ALLOW_LOOPBACK"):
        if getattr(config, name):
            problems.append(f"IDP_{name} is for development only: client metadata documents would be fetched unprotected")
    if problems:
        raise ConfigError("refusing to start in production:" + "".join(f"\n  - {problem}" for problem in problems))


class Config:
    """Production-shaped settings; every value can be overridden by an IDP_ variable."""

    def __init__(self) -> None:
        self.ENV_NAME = _env("ENV", "development")
        self.ISSUER = (_env("ISSUER", "http://localhost:5000") or "").rstrip("/")
        self.SERVICE_NAME = _env("SERVICE_NAME", "Identity")
        self.DEFAULT_LANGUAGE = (_env("DEFAULT_LANGUAGE", "en") or "en").lower()  # en, de or fr: docs/translations.md
        # Branding on every page and email, checked at start-up (app/web/branding.py): logo file, accent #rrggbb, links.
        for name in ("BRAND_LOGO", "BRAND_COLOR", "BRAND_PRIVACY_URL", "BRAND_TERMS_URL", "BRAND_HELP_URL"):
            setattr(self, name, _env(name))
        instance_dir = Path(_env("INSTANCE_DIR", str(INSTANCE_DIR)))
        self.INSTANCE_DIR = str(instance_dir)
        self.SECRET_KEY = _env("SECRET_KEY") or self._generated_secret(instance_dir)

        # A PostgreSQL that doesn't answer at all (a dropped network path, not a refused connection)
        # fails after this many seconds rather than psycopg's 130, well inside gunicorn's 30 s worker
        # timeout, so the request still gets the app's 503 (README "When Redis or PostgreSQL is down").
        self.DATABASE_CONNECT_TIMEOUT = _env_int("DATABASE_CONNECT_TIMEOUT", 5)
        self.SQLALCHEMY_DATABASE_URI = with_connect_timeout(
            _env("DATABASE_URL") or f"sqlite:///{instance_dir / 'idp.sqlite3'}", self.DATABASE_CONNECT_TIMEOUT
        )
        # "transaction" when the URL points at PgBouncer (or another pooler) in transaction mode, where nothing may
        # live in a server session from one transaction to the next; "none" for a direct or session-mode connection.
        self.DATABASE_POOLER = database_pooler(_env("DATABASE_POOLER", "none"))
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI, self.DATABASE_POOLER)
        # Production refuses SQLite unless told it sits on a disk that outlives the server (refuse_unsafe_production).
        self.ALLOW_SQLITE = _env_bool("ALLOW_SQLITE", False)
        self.REDIS_URL = _env("REDIS_URL")
        self._redis_settings()
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_HEADERS_ENABLED = True
        # Prefixes of the rate-limit counters and of other Redis keys (the deny-list): distinct per deployment sharing one Redis.
        self.RATELIMIT_KEY_PREFIX = _env("RATELIMIT_KEY_PREFIX", "idp")
        self.REDIS_KEY_PREFIX = _env("REDIS_KEY_PREFIX", "idp")
        # Named limits, applied per IP and per account (see app/auth/views.py).
        self.LIMIT_LOGIN_IP = _env("LIMIT_LOGIN_IP", "30 per minute;300 per hour")
        self.LIMIT_LOGIN_ACCOUNT = _env("LIMIT_LOGIN_ACCOUNT", "10 per minute;50 per hour")
        self.LIMIT_PASSKEY_OPTIONS_IP = _env("LIMIT_PASSKEY_OPTIONS_IP", "60 per minute;600 per hour")  # each sign-in page asks
        self.LIMIT_REGISTER_IP = _env("LIMIT_REGISTER_IP", "10 per hour")
        self.LIMIT_REGISTER_ACCOUNT = _env("LIMIT_REGISTER_ACCOUNT", "3 per hour")
        self.LIMIT_RESET_IP = _env("LIMIT_RESET_IP", "10 per hour")
        self.LIMIT_RESET_ACCOUNT = _env("LIMIT_RESET_ACCOUNT", "3 per hour")
        # Every typed device code counts (RFC 8628 5.1: user codes are guessable only if entry is unthrottled).
        self.LIMIT_DEVICE_ENTRY_IP = _env("LIMIT_DEVICE_ENTRY_IP", "20 per minute;200 per hour")
        self.LIMIT_DEVICE_ENTRY_ACCOUNT = _env("LIMIT_DEVICE_ENTRY_ACCOUNT", "10 per minute;60 per hour")
        self.LIMIT_DEVICE_AUTHORIZATION_IP = _env("LIMIT_DEVICE_AUTHORIZATION_IP", "60 per minute")

        # Anyone may create an account (with a password, or at a first social sign-in); off: invitations only.
        self.REGISTRATION_OPEN = _env_bool("REGISTRATION_OPEN", True)
        # Social sign-in: IDP_SOCIAL_<NAME>_CLIENT_ID, _CLIENT_SECRET, ... (see README, "Social sign-in").
        self.SOCIAL_PROVIDERS = social_settings(dict(os.environ))
        self.SOCIAL_TIMEOUT_SECONDS = _env_int("SOCIAL_TIMEOUT_SECONDS", 10)

        self.PASSWORD_MIN_LENGTH = _env_int("PASSWORD_MIN_LENGTH", 15)
        self.PASSWORD_MIN_LENGTH_MFA = _env_int("PASSWORD_MIN_LENGTH_MFA", 8)
        # MFA: everyone must enrol (admins always must); how recent a proof a sensitive change needs.
        self.REQUIRE_MFA = _env_bool("REQUIRE_MFA", False)
        self.FRESH_AUTH_SECONDS = _env_int("FRESH_AUTH_SECONDS", 300)
        # The console needs a second factor proven within this long (ASVS 8.2; "within the last hours").
        self.ADMIN_MFA_MAX_AGE_SECONDS = _env_int("ADMIN_MFA_MAX_AGE_SECONDS", 4 * 3600)
        # "Trust this browser" after a second factor: that browser's sign-ins skip the challenge this long.
        self.TRUSTED_BROWSER_SECONDS = _env_int("TRUSTED_BROWSER_SECONDS", 30 * 86400)
        self.LIMIT_MFA_CHALLENGE = _env("LIMIT_MFA_CHALLENGE", "10 per minute")
        # Text-message codes: "log" writes them to the app log (development only), "http" posts to a
        # Twilio-style gateway; the URL may hold {account}, e.g. .../Accounts/{account}/Messages.json.
        # Development writes codes to the log; production never does, and offers no text messages until
        # a gateway is configured ("off": nobody can add a phone).
        self.SMS_SENDER = _env("SMS_SENDER", "off" if self.ENV_NAME == "production" else "log")
        self.SMS_HTTP_URL = _env("SMS_HTTP_URL")
        self.SMS_HTTP_ACCOUNT = _env("SMS_HTTP_ACCOUNT")
        self.SMS_HTTP_TOKEN = _env("SMS_HTTP_TOKEN")
        self.SMS_FROM = _env("SMS_FROM")
        self.SMS_CODE_SECONDS = _env_int("SMS_CODE_SECONDS", 300)
        self.SMS_MAX_ATTEMPTS = _env_int("SMS_MAX_ATTEMPTS", 5)
        self.SMS_SENDS_PER_HOUR = _env_int("SMS_SENDS_PER_HOUR", 5)
        self.PASSWORD_MAX_LENGTH = _env_int("PASSWORD_MAX_LENGTH", 256)
        # Argon2id at OWASP's floor (19 MiB, t=2, p=1): ~24 ms here, see docs/architecture.md.
        self.ARGON2_MEMORY_KIB = _env_int("ARGON2_MEMORY_KIB", 19456)
        self.ARGON2_TIME_COST = _env_int("ARGON2_TIME_COST", 2)

        self.LOCKOUT_THRESHOLD = _env_int("LOCKOUT_THRESHOLD", 5)
        self.LOCKOUT_BASE_SECONDS = _env_int("LOCKOUT_BASE_SECONDS", 60)
        self.LOCKOUT_MAX_SECONDS = _env_int("LOCKOUT_MAX_SECONDS", 3600)

        self.SESSION_IDLE_TIMEOUT = timedelta(seconds=_env_int("SESSION_IDLE_SECONDS", 3600))
        self.SESSION_ABSOLUTE_TIMEOUT = timedelta(seconds=_env_int("SESSION_ABSOLUTE_SECONDS", 86400))
        # "Keep me signed in" ticked: that session's own longer limits, and a cookie that outlives the browser.
        self.REMEMBER_IDLE_TIMEOUT = timedelta(seconds=_env_int("REMEMBER_IDLE_SECONDS", 7 * 86400))
        self.REMEMBER_ABSOLUTE_TIMEOUT = timedelta(seconds=_env_int("REMEMBER_ABSOLUTE_SECONDS", 30 * 86400))
        # At most this many signed-in sessions per person; a sign-in beyond it ends the oldest. 0: no limit.
        self.MAX_SESSIONS_PER_USER = _env_int("MAX_SESSIONS_PER_USER", 0)
        # last_seen is written at most this often, so a page view is not a write.
        self.SESSION_TOUCH_INTERVAL = timedelta(seconds=_env_int("SESSION_TOUCH_SECONDS", 300))
        self.EMAIL_VERIFY_TTL = timedelta(seconds=_env_int("EMAIL_VERIFY_SECONDS", 86400))
        self.PASSWORD_RESET_TTL = timedelta(seconds=_env_int("PASSWORD_RESET_SECONDS", 3600))

        # OAuth / OIDC lifetimes (seconds) and token shape.
        self.ACCESS_TOKEN_TTL = _env_int("ACCESS_TOKEN_SECONDS", 600)
        self.ID_TOKEN_TTL = _env_int("ID_TOKEN_SECONDS", 600)
        self.AUTHORIZATION_CODE_TTL = min(_env_int("AUTHORIZATION_CODE_SECONDS", 60), 60)
        self.REFRESH_TOKEN_TTL = _env_int("REFRESH_TOKEN_SECONDS", 30 * 86400)  # absolute, per family
        self.REFRESH_TOKEN_IDLE_TTL = _env_int("REFRESH_TOKEN_IDLE_SECONDS", 14 * 86400)  # unused this long: dead
        self.DEVICE_CODE_TTL = min(_env_int("DEVICE_CODE_SECONDS", 600), 600)
        self.DEVICE_CODE_INTERVAL = _env_int("DEVICE_CODE_INTERVAL", 5)
        # RFC 9126: a pushed request's request_uri must reach /oauth/authorize this soon (at most 600).
        self.PAR_SECONDS = max(1, min(_env_int("PAR_SECONDS", 60), 600))
        self.REQUIRE_PAR = _env_bool("REQUIRE_PAR", False)  # every client must push its authorization requests
        self.DPOP_NONCE = _env_bool("DPOP_NONCE", False)  # RFC 9449 8: DPoP proofs must carry a server nonce
        # ES256 signs ~5x faster than RS256 here; ID tokens stay RS256 unless a client asks otherwise.
        self.ACCESS_TOKEN_ALG = _env("ACCESS_TOKEN_ALG", "ES256")
        self.ACCESS_TOKEN_AUDIENCE = _env("ACCESS_TOKEN_AUDIENCE")  # default: the issuer
        self.KEY_CACHE_SECONDS = _env_int("KEY_CACHE_SECONDS", 60)
        self.CLIENT_CACHE_SECONDS = _env_int("CLIENT_CACHE_SECONDS", 30)
        # A new key is published this long before it signs: every worker serves it, and an app that
        # cached the JWKS (max-age 300) has it, before the first token needs it. Its predecessor signs
        # meanwhile. At least 300 and KEY_CACHE_SECONDS.
        self.KEY_ACTIVATION_SECONDS = max(_env_int("KEY_ACTIVATION_SECONDS", 300), 300, self.KEY_CACHE_SECONDS)
        # A retired key stays published while a token it signed may be used; it may sign until its
        # successor is active, so that window counts too.
        self.KEY_RETENTION_SECONDS = max(self.ACCESS_TOKEN_TTL, self.ID_TOKEN_TTL) + self.KEY_ACTIVATION_SECONDS + 300
        self.OPEN_CLIENT_REGISTRATION = _env_bool("OPEN_CLIENT_REGISTRATION", False)
        self.REGISTRATION_INITIAL_TOKEN = _env("REGISTRATION_INITIAL_TOKEN")
        # Scopes a self-registered client may ask for (RFC 7591 "scope"); anything else needs an operator.
        self.REGISTRATION_SCOPES = _env("REGISTRATION_SCOPES", "openid profile email offline_access")
        self.LIMIT_REGISTER_CLIENT_IP = _env("LIMIT_REGISTER_CLIENT_IP", "30 per hour")
        # Client ID Metadata Documents (app/core/client_metadata.py): an https URL as client_id, fetched; off by default.
        self.CLIENT_ID_METADATA_DOCUMENTS = _env_bool("CLIENT_ID_METADATA_DOCUMENTS", False)
        self.CLIENT_ID_METADATA_HOSTS = _env("CLIENT_ID_METADATA_HOSTS", "")  # comma-separated; empty: any public host
        # Development only, refused in production: documents over plain http, and from loopback addresses.
        self.CLIENT_ID_METADATA_ALLOW_HTTP = _env_bool("CLIENT_ID_METADATA_ALLOW_HTTP", False)
        self.CLIENT_ID_METADATA_ALLOW_LOOPBACK = _env_bool("CLIENT_ID_METADATA_ALLOW_LOOPBACK", False)
        # OIDC Back-Channel Logout (app/core/logout_delivery.py): one POST's time limit; a delivery thread per process.
        self.BACKCHANNEL_LOGOUT_TIMEOUT = _env_int("BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS", 5)
        self.BACKCHANNEL_LOGOUT_WORKER = _env_bool("BACKCHANNEL_LOGOUT_WORKER", True)

        self.SMTP_HOST = _env("SMTP_HOST")
        self.SMTP_PORT = _env_int("SMTP_PORT", 587)
        self.SMTP_USERNAME = _env("SMTP_USERNAME")
        self.SMTP_PASSWORD = _env("SMTP_PASSWORD")
        self.SMTP_SECURITY = _env("SMTP_SECURITY", "starttls")  # starttls | ssl | none
        self.SMTP_TIMEOUT = _env_int("SMTP_TIMEOUT", 10)
        self.MAIL_FROM = _env("MAIL_FROM", "Identity <no-reply@localhost>")
        self.MAIL_SYNC = _env_bool("MAIL_SYNC", False)  # deliver inside the request (tests)

        self.TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 64 * 1024)
        self.LOG_LEVEL = _env("LOG_LEVEL", "INFO")
        self.LOG_JSON = _env_bool("LOG_JSON", True)
        # `flask maintenance prune` deletes audit events (and the per-minute machine-token counts) older than this
        # many days; empty, the default, keeps the whole trail forever (app/core/maintenance.py).
        retention = (_env("AUDIT_RETENTION_DAYS", "") or "").strip()
        self.AUDIT_RETENTION_DAYS = int(retention) if retention else None
        # Prometheus scrape at /metrics: off (404) unless set; then the scraper sends it as a Bearer token.
        self.METRICS_TOKEN = _env("METRICS_TOKEN")

        self.WTF_CSRF_TIME_LIMIT = None  # tied to the browser state cookie instead
        # Referrer-Policy: no-referrer means browsers send no Referer, so Flask-WTF's https Referer check would
        # refuse every form; the CSRF token and the SameSite=Lax cookie are the protection.
        self.WTF_CSRF_SSL_STRICT = False
        self._cookie_settings()
        if self.ENV_NAME == "production":
            refuse_unsafe_production(self)
        check_environment(os.environ, set(self.SOCIAL_PROVIDERS))

    def _redis_settings(self) -> None:
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        # Redis unreachable: each process counts in memory until it answers again (checked at growing
        # intervals), so sign-in keeps working and keeps its limits, per process (README "When Redis or
        # PostgreSQL is down"). Flask-Limiter logs the switch once, not per request.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = bool(self.REDIS_URL)
        # A deduction after the response (failed sign-ins) that meets a dying Redis is dropped, not a 500.
        self.RATELIMIT_SWALLOW_ERRORS = bool(self.REDIS_URL)
        # Fail fast: redis-py's default is three retries with seconds of backoff, on every request.
        self.RATELIMIT_STORAGE_OPTIONS = (
            {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "retry": Retry(NoBackoff(), retries=1)}
            if self.REDIS_URL
            else {}
        )

    def _generated_secret(self, instance_dir: Path) -> str:
        if self.ENV_NAME == "production":
            raise ConfigError("IDP_SECRET_KEY must be set in production")
        return load_or_create_secret(instance_dir)

    def _cookie_settings(self) -> None:
        secure = self.ISSUER.startswith("https://")
        # __Host- pins the cookie to this origin; browsers accept it only with Secure.
        prefix = "__Host-" if secure else ""
        self.AUTH_COOKIE_NAME = f"{prefix}idp_session"
        self.SESSION_COOKIE_NAME = f"{prefix}idp_state"
        self.SESSION_COOKIE_SECURE = secure
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.PREFERRED_URL_SCHEME = "https" if secure else "http"


class TestConfig(Config):
    """Settings for the test suite: its own database, fast hashing, limiter off unless asked."""

    def __init__(self, **overrides: object) -> None:
        super().__init__()
        self.TESTING = True
        self.ENV_NAME = "test"
        self.SECRET_KEY = "test-secret-key-not-for-production-" + "x" * 16
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("IDP_TEST_DATABASE_URL", "sqlite://")
        self.REDIS_URL = overrides.pop("REDIS_URL", os.environ.get("IDP_TEST_REDIS_URL"))
        self._redis_settings()
        self.RATELIMIT_ENABLED = False
        self.ARGON2_MEMORY_KIB = 1024
        self.ARGON2_TIME_COST = 1
        self.SMTP_HOST = None
        self.MAIL_SYNC = True
        self.BACKCHANNEL_LOGOUT_WORKER = False  # tests deliver with logout_delivery.deliver_due, time moved
        self.LOG_JSON = False
        self.SOCIAL_PROVIDERS = {}  # tests configure their own upstreams, never the caller's
        if "ISSUER" in overrides:
            # Cookie names and Secure follow the issuer, as they do when IDP_ISSUER sets it in production.
            self.ISSUER = str(overrides["ISSUER"]).rstrip("/")
            self._cookie_settings()
        for key, value in overrides.items():
            setattr(self, key, value)
        if "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
            # The test database's URL and pooler (a test may point it at PgBouncer) decide, as in production.
            self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI, self.DATABASE_POOLER)
