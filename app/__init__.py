"""The application factory."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import PROJECT_ROOT, Config
from app.log import init_logging


def create_app(config: object | None = None) -> Flask:
    """Assemble the app: config, extensions, blueprints, error pages, headers, CLI. No I/O beyond config."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(config or Config())
    init_logging(app)  # first, so every later hook (CSRF included) logs with a request id
    _bind_extensions(app)
    _register_blueprints(app)
    _register_cross_cutting(app)
    return app


def _bind_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (every model on the metadata before Migrate sees it)
    from app.browser_session import init_browser_sessions
    from app.extensions import csrf, db, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    init_browser_sessions(app)


def _register_blueprints(app: Flask) -> None:
    from app import account, admin, auth, health, mfa, oauth
    from app.account import views as _account_views  # noqa: F401  (routes attach to the blueprint on import)
    from app.account import profile_views as _profile_views  # noqa: F401
    from app.account import password_views as _password_views  # noqa: F401
    from app.account import session_views as _session_views  # noqa: F401
    from app.account import apps_views as _apps_views  # noqa: F401
    from app.account import history_views as _history_views  # noqa: F401
    from app.account import data_views as _data_views  # noqa: F401
    from app.admin import dashboard_views as _admin_dashboard  # noqa: F401
    from app.admin import users_views as _admin_users  # noqa: F401
    from app.admin import clients_views as _admin_clients  # noqa: F401
    from app.admin import rbac_views as _admin_rbac  # noqa: F401
    from app.admin import audit_views as _admin_audit  # noqa: F401
    from app.auth import views as _auth_views  # noqa: F401
    from app.auth import social_views as _social_views  # noqa: F401
    from app.account import linked_views as _linked_views  # noqa: F401
    from app.auth.providers import init_providers
    from app.oauth import views as _oauth_views  # noqa: F401
    from app.oauth import logout_views as _logout_views  # noqa: F401
    from app.oauth import registration_views as _registration_views  # noqa: F401
    from app.oauth import device_views as _device_views  # noqa: F401
    from app.mfa import views as _mfa_views  # noqa: F401
    from app.mfa import totp_views as _totp_views  # noqa: F401
    from app.mfa import recovery_views as _recovery_views  # noqa: F401
    from app.mfa import webauthn_views as _webauthn_views  # noqa: F401
    from app.mfa import sms_views as _sms_views  # noqa: F401
    from app.oauth.deny_list import init_deny_list
    from app.oauth.grants import init_oauth_server

    init_oauth_server(app)
    init_deny_list(app)
    init_providers(app)

    for blueprint in (auth.bp, oauth.bp, mfa.bp, account.bp, admin.bp, health.bp):
        app.register_blueprint(blueprint)


def _register_cross_cutting(app: Flask) -> None:
    from app.cli import init_cli
    from app.errors import init_errors
    from app.headers import init_headers
    from app.oauth.constants import MACHINE_PATH_PREFIXES
    from app.oauth.discovery import public_metadata_lifetimes
    from app.public_cache import init_public_cache
    from app.templating import init_templating

    if app.config["TRUSTED_PROXIES"]:
        # X-Forwarded-* is believed only from that many proxy hops (SECURITY.md, ASVS 4.1.3).
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    init_errors(app, json_paths=MACHINE_PATH_PREFIXES)
    init_headers(app)
    # Outermost, so the cached public metadata skips even the proxy fix-up.
    init_public_cache(app, public_metadata_lifetimes(app.config))
    init_templating(app)
    init_cli(app)
