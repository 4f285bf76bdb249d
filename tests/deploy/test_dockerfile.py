"""The Dockerfile as a new user meets it: pinned base, non-root, health check, every file the start command needs.

No Docker engine runs here, so the image isn't built in the suite; these checks read the file the
way `docker build` would, instruction by instruction.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined, as Docker reads them."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            logical.append((keyword.upper(), rest.strip()))
            pending = ""
    return logical


def arguments(keyword: str) -> list[str]:
    return [rest for name, rest in instructions() if name == keyword]


def test_the_base_image_is_pinned_to_a_python_patch_release_and_a_debian_release():
    (default,) = [rest for rest in arguments("ARG") if rest.startswith("PYTHON_IMAGE=")]
    image = default.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", image), image
    assert arguments("FROM") == ["${PYTHON_IMAGE}"]


def test_it_runs_as_a_fixed_non_root_uid():
    (user,) = arguments("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit()  # numeric: Kubernetes' runAsNonRoot can check it
    assert f"--uid {uid}" in " ".join(arguments("RUN"))


def test_it_has_a_health_check_on_readiness():
    (check,) = arguments("HEALTHCHECK")
    assert "/readyz" in check and "--timeout=" in check


def test_production_is_the_default_and_gunicorn_listens_on_the_published_port():
    env = " ".join(arguments("ENV"))
    assert "IDP_ENV=production" in env
    assert 'GUNICORN_CMD_ARGS="--bind=0.0.0.0:8000"' in env
    assert arguments("EXPOSE") == ["8000"]


def test_the_start_command_prepares_under_a_lock_then_runs_gunicorn_with_its_config():
    (command,) = arguments("CMD")
    exec_form = json.loads(command)  # the exec form is a JSON array: ["sh", "-c", "<script>"]
    assert exec_form[:2] == ["sh", "-c"]
    shell = shlex.split(exec_form[2])
    assert shell[:2] == ["flask", "prepare"]
    assert "exec" in shell and shell[shell.index("exec") + 1 :] == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]


def test_every_file_the_server_needs_is_copied_into_the_image():
    copied = {source for rest in arguments("COPY") for source in rest.split()[:-1]}
    needed = {"requirements.txt", "app", "templates", "static", "migrations", "translations", "wsgi.py", "gunicorn.conf.py"}
    assert needed <= copied, needed - copied
    for source in copied:
        assert (PROJECT_ROOT / source).exists(), source
