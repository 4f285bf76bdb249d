"""Unbound extension objects, bound to the app in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from app.models.base import Base
from app.net import client_ip

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# The Authlib AuthorizationServer is built per app in app.oauth.grants.init_oauth_server: its grant
# and endpoint registries are lists, so one shared object would collect duplicates from every app.
# Storage comes from RATELIMIT_STORAGE_URI: memory:// on one machine, Redis when IDP_REDIS_URL is set.
limiter = Limiter(key_func=client_ip)
# Languages and time zones; the selectors are app/web/i18n.py's.
babel = Babel()
