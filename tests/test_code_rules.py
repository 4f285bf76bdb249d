"""The code's own rules, checked by the suite so that the README's test command fails when one breaks.

- The layering contracts in pyproject.toml (import-linter): blueprints above the web glue above the
  domain layer above the models; the five blueprints never import each other; no import cycles.
- ruff's lint rules and its formatting (pyproject.toml).
- The domain layer and the models never touch the request, a blueprint or a page template.
- No module in app/ grows past about 300 lines.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["app", "tests", "bench", "migrations", "wsgi.py"]
MAX_MODULE_LINES = 300
# What only a request, a blueprint or a page may use: app/core and app/models take values as arguments instead.
WEB_ONLY_FLASK_NAMES = {
    "Blueprint",
    "abort",
    "flash",
    "g",
    "jsonify",
    "make_response",
    "redirect",
    "render_template",
    "request",
    "session",
    "url_for",
}
WEB_ONLY_PACKAGES = ("flask_login", "flask_wtf", "wtforms", "werkzeug", "app.web", "app.net")


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_layering_contracts_hold():
    result = _run(_tool("lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_ruff_finds_nothing():
    result = _run(_tool("ruff"), "check", "--no-cache", *SOURCES)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_code_is_formatted():
    result = _run(_tool("ruff"), "format", "--check", "--no-cache", *SOURCES)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _web_only_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "flask":
                found += [f"flask.{alias.name}" for alias in node.names if alias.name in WEB_ONLY_FLASK_NAMES]
            elif node.module.startswith(WEB_ONLY_PACKAGES):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith(WEB_ONLY_PACKAGES)]
    return found


@pytest.mark.parametrize("path", _modules("app/core", "app/models"), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_domain_layer_and_the_models_never_touch_the_request(path):
    assert _web_only_imports(path) == []


def test_the_purity_check_sees_a_request_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from flask import current_app, request\nimport flask_login\nfrom app.web.forms import ConfirmForm\n")
    assert _web_only_imports(sample) == ["flask.request", "flask_login", "app.web.forms"]


@pytest.mark.parametrize("path", _modules("app"), ids=lambda path: str(path.relative_to(ROOT)))
def test_modules_stay_short(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by job"
