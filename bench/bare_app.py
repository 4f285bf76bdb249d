"""The baseline: a bare Flask route under the same gunicorn settings as the identity provider.

Its requests/s is the ceiling that gunicorn, Werkzeug and Flask leave on this machine; the
benchmark prints each IdP endpoint as a fraction of it. Run by bench/run.py as ``bare_app:app``.
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bare")
def bare():
    return jsonify(ok=True)
