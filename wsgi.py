"""Entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``) and the ``flask`` command (FLASK_APP=wsgi)."""

import sys

from app import create_app
from app.settings import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # The message names what to set; a traceback would bury it. Exit status 3 is gunicorn's "worker failed
    # to boot": the server stops instead of restarting workers that can never start.
    print(f"Configuration error: {error}", file=sys.stderr)
    sys.exit(3)
