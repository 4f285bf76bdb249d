"""The application factory: it assembles the layers (README "Code layout") and does no I/O beyond config."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import app.models  # noqa: F401  (every model on the metadata before Migrate sees it)
from app import account, admin, auth, mfa, oauth
from app.account import (
    apps_views,
    data_views,
    history_views,
    linked_views,
    password_views,
    profile_views,
    session_views,
)
from app.account import views as account_views
from app.admin import api_views, audit_views, clients_views, dashboard_views, group_views, rbac_views, users_views
from app.auth import social_views
from app.auth import views as auth_views
from app.cli import init_cli
from app.config import PROJECT_ROOT, Config
from app.core.deny_list import init_deny_list
from app.core.factors import init_factors
from app.core.logout_worker import init_logout_worker
from app.core.protocol import MACHINE_PATH_PREFIXES
from app.core.providers import init_providers
from app.extensions import csrf, db, limiter, migrate
from app.log import init_logging
from app.mfa import recovery_views, sms_views, totp_views, webauthn_views
from app.mfa import views as mfa_views
from app.mfa.plugins import FACTORS
from app.oauth import device_views, logout_views, registration_views
from app.oauth import views as oauth_views
from app.oauth.discovery import public_metadata_lifetimes
from app.oauth.grants import init_oauth_server
from app.web import health
from app.web.bad_input import init_bad_input
from app.web.browser_session import init_browser_sessions
from app.web.errors import init_errors
from app.web.headers import init_headers
from app.web.metrics import init_metrics
from app.web.public_cache import init_public_cache
from app.web.templating import init_templating
from app.web.tracing import init_tracing

# Routes attach to their blueprint when these modules are imported; listed here so that is explicit.
ROUTE_MODULES = (
    account_views, apps_views, data_views, history_views, linked_views, password_views, profile_views, session_views,
    api_views, audit_views, clients_views, dashboard_views, group_views, rbac_views, users_views,
    auth_views, social_views,
    mfa_views, recovery_views, sms_views, totp_views, webauthn_views,
    oauth_views, device_views, logout_views, registration_views,
)  # fmt: skip
BLUEPRINTS = (auth.bp, oauth.bp, mfa.bp, account.bp, admin.bp, health.bp)


def create_app(config: object | None = None) -> Flask:
    """Assemble the app: config, extensions, factors, blueprints, error pages, headers, CLI. No I/O beyond config."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(config or Config())
    init_logging(app)  # first, so every later hook (CSRF included) logs with a request id
    _bind_extensions(app)
    _register_services(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    _register_cross_cutting(app)
    init_tracing(app)  # last: only when OTEL_* names a collector, and its hooks follow every other one
    return app


def _bind_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    init_browser_sessions(app)


def _register_services(app: Flask) -> None:
    init_factors(app, FACTORS)
    init_oauth_server(app)
    init_deny_list(app)
    init_providers(app)
    init_logout_worker(app)


def _register_cross_cutting(app: Flask) -> None:
    if app.config["TRUSTED_PROXIES"]:
        # X-Forwarded-* is believed only from that many proxy hops (docs/security.md, ASVS 4.1.3).
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    init_errors(app, json_paths=MACHINE_PATH_PREFIXES)
    init_bad_input(app)  # after init_errors: its 400s for bad input override the catch-all 500
    init_headers(app)
    init_metrics(app)
    # Outermost, so the cached public metadata skips even the proxy fix-up.
    init_public_cache(app, public_metadata_lifetimes(app.config))
    init_templating(app)
    init_cli(app)
