"""Render the kustomize overlays and the Compose file of deploy/ and check them against their schemas.

``kubectl kustomize`` renders offline. Without kubectl the Kubernetes tests skip on a developer's
machine and fail in CI (``CI`` set), where ``.ci/install-deploy-tools`` must have installed it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "compose.yaml"
# The Compose Specification's JSON schema, vendored (see README.md beside it).
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")
# The oldest and the newest Kubernetes release kubernetes-validate ships schemas for: an API
# field dropped or renamed between them fails one of the two.
KUBERNETES_VERSIONS = (kubernetes_validate.all_versions()[0], kubernetes_validate.latest_version())
RENDER_TIMEOUT_SECONDS = 60

# The variables every pod must get from the Secret, never from the ConfigMap or a literal.
SECRET_VARIABLES = (
    "IDP_SECRET_KEY",
    "IDP_DATABASE_URL",
    "IDP_REDIS_URL",
    "IDP_SMTP_HOST",
    "IDP_SMTP_USERNAME",
    "IDP_SMTP_PASSWORD",
    "IDP_MAIL_FROM",
    "IDP_METRICS_TOKEN",
)


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing: .ci/install-deploy-tools installs it")
        pytest.skip("kubectl is not installed (bash .ci/install-deploy-tools installs it)")
    return path


def render(overlay: str) -> list[dict]:
    """The objects ``kubectl kustomize`` renders for ``deploy/kubernetes/<overlay>``."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUBERNETES / overlay)],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def schema_errors(resource: dict, version: str) -> list[str]:
    """Strict schema validation (unknown fields are errors); a kind without a schema is an error too."""
    name = f"{resource['kind']}/{resource['metadata']['name']}"
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return [f"{name}: {path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{name}: {error.message}"]
    return []


def compose_schema_errors(document: dict) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(document)]


def docker_compose_errors() -> str | None:
    """``docker compose config``'s complaint, "" when it accepts the file, None when Compose isn't installed."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode:
        return None
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_SECONDS,
        check=False,
    )
    return result.stderr if result.returncode else ""


def of_kind(resources: list[dict], kind: str) -> list[dict]:
    return [resource for resource in resources if resource["kind"] == kind]


def one(resources: list[dict], kind: str, name: str) -> dict:
    matches = [resource for resource in of_kind(resources, kind) if resource["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_specs(resources: list[dict]) -> dict[str, dict]:
    """Every pod template's spec, by the name of the object that owns it."""
    specs = {}
    for resource in resources:
        spec = resource.get("spec", {})
        if resource["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            specs[f"{resource['kind']}/{resource['metadata']['name']}"] = spec["template"]["spec"]
    return specs
