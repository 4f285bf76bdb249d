"""The kustomize overlays render, pass the Kubernetes schemas strictly, and keep the properties the IdP relies on."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.manifests import (
    KUBERNETES,
    KUBERNETES_VERSIONS,
    SECRET_VARIABLES,
    of_kind,
    one,
    pod_specs,
    render,
    schema_errors,
)

OVERLAYS = ("overlays/single", "overlays/scaled")
# Rendered once per overlay: each render is a kubectl process.
_rendered: dict[str, list[dict]] = {}


def rendered(overlay: str) -> list[dict]:
    if overlay not in _rendered:
        _rendered[overlay] = render(overlay)
    return _rendered[overlay]


def web_container(resources: list[dict]) -> dict:
    deployment = one(resources, "Deployment", "idp")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def containers(resources: list[dict]) -> dict[str, list[dict]]:
    return {owner: spec["containers"] for owner, spec in pod_specs(resources).items()}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", (*OVERLAYS, "overlays/ingress"))
def test_every_rendered_object_passes_the_strict_schema(overlay: str, version: str) -> None:
    resources = rendered(overlay)
    assert resources
    assert [error for resource in resources for error in schema_errors(resource, version)] == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_example_secret_passes_the_strict_schema_and_holds_every_secret_variable(version: str) -> None:
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    assert schema_errors(secret, version) == []
    assert secret["metadata"]["name"] == "idp-secrets"
    assert sorted(secret["stringData"]) == sorted(SECRET_VARIABLES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_base_objects_are_all_there(overlay: str) -> None:
    resources = rendered(overlay)
    kinds = sorted((resource["kind"], re.sub(r"-[a-z0-9]{10}$", "", resource["metadata"]["name"])) for resource in resources)
    assert kinds == [
        ("ConfigMap", "idp-config"),
        ("CronJob", "idp-prune"),
        ("CronJob", "idp-rotate-keys"),
        ("Deployment", "idp"),
        ("Job", "idp-migrate"),
        ("PodDisruptionBudget", "idp"),
        ("Service", "idp"),
    ]
    # The Secret is the operator's: never rendered, so no value of it is ever committed.
    assert of_kind(resources, "Secret") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_healthz_for_liveness_and_readyz_for_readiness(overlay: str) -> None:
    container = web_container(rendered(overlay))
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployment_serves_with_gunicorn_and_only_the_job_prepares(overlay: str) -> None:
    resources = rendered(overlay)
    commands = {owner: [container["command"] for container in listed] for owner, listed in containers(resources).items()}
    assert commands == {
        "Deployment/idp": [["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]],
        "Job/idp-migrate": [["flask", "prepare"]],
        "CronJob/idp-prune": [["flask", "maintenance", "prune"]],
        "CronJob/idp-rotate-keys": [["flask", "keys", "rotate", "--if-older-than", "90d"]],
    }
    deployment = one(resources, "Deployment", "idp")["spec"]["template"]["spec"]
    assert "initContainers" not in deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cron_jobs_run_hourly_and_daily_one_at_a_time(overlay: str) -> None:
    resources = rendered(overlay)
    prune = one(resources, "CronJob", "idp-prune")["spec"]
    rotate = one(resources, "CronJob", "idp-rotate-keys")["spec"]
    assert re.fullmatch(r"\d+ \* \* \* \*", prune["schedule"])
    assert re.fullmatch(r"\d+ \d+ \* \* \*", rotate["schedule"])
    assert prune["concurrencyPolicy"] == rotate["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_locked_down(overlay: str) -> None:
    for owner, spec in pod_specs(rendered(overlay)).items():
        assert spec["automountServiceAccountToken"] is False, owner
        assert spec["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, owner
        for container in spec["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, owner
            assert {"requests", "limits"} <= set(container["resources"]), owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_read_only_root_has_writable_scratch_for_tmp_instance_and_metrics(overlay: str) -> None:
    resources = rendered(overlay)
    config = of_kind(resources, "ConfigMap")[0]["data"]
    writable = {"/tmp", config["IDP_INSTANCE_DIR"], config["PROMETHEUS_MULTIPROC_DIR"]}
    for owner, spec in pod_specs(resources).items():
        empty_dirs = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
        for container in spec["containers"]:
            mounted = {mount["mountPath"] for mount in container["volumeMounts"] if mount["name"] in empty_dirs}
            assert mounted == writable, owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_the_secret_and_settings_from_the_config_map(overlay: str) -> None:
    resources = rendered(overlay)
    config_map = of_kind(resources, "ConfigMap")[0]
    assert config_map["data"]["IDP_ENV"] == "production"
    assert config_map["data"]["IDP_ISSUER"].startswith("https://")
    assert config_map["data"]["IDP_TRUSTED_PROXIES"] == "1"
    assert not set(SECRET_VARIABLES) & set(config_map["data"])
    for owner, listed in containers(resources).items():
        for container in listed:
            assert container["envFrom"] == [
                {"configMapRef": {"name": config_map["metadata"]["name"]}},
                {"secretRef": {"name": "idp-secrets"}},
            ], owner
            literals = {variable["name"] for variable in container.get("env", []) if "value" in variable}
            assert not set(SECRET_VARIABLES) & literals, owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_never_latest(overlay: str) -> None:
    for owner, listed in containers(rendered(overlay)).items():
        for container in listed:
            name, _, tag = container["image"].rpartition(":")
            assert name and tag and tag != "latest", (owner, container["image"])


def test_single_runs_one_replica_and_lets_a_drain_move_it() -> None:
    resources = rendered("overlays/single")
    assert one(resources, "Deployment", "idp")["spec"]["replicas"] == 1
    assert one(resources, "PodDisruptionBudget", "idp")["spec"]["minAvailable"] == 0
    assert "env" not in web_container(resources)


def test_scaled_runs_two_replicas_kept_apart_that_require_redis() -> None:
    resources = rendered("overlays/scaled")
    deployment = one(resources, "Deployment", "idp")["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = one(resources, "PodDisruptionBudget", "idp")["spec"]
    assert budget["minAvailable"] == 1
    assert budget["selector"]["matchLabels"] == deployment["selector"]["matchLabels"]
    preferred = deployment["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == deployment["selector"]["matchLabels"]
    # Required (not optional): a pod whose Secret lacks Redis doesn't start with per-pod limits.
    assert web_container(resources)["env"] == [
        {"name": "IDP_REDIS_URL", "valueFrom": {"secretKeyRef": {"name": "idp-secrets", "key": "IDP_REDIS_URL"}}}
    ]
    assert of_kind(resources, "ConfigMap")[0]["data"]["WEB_CONCURRENCY"] == "2"


def test_the_ingress_overlay_routes_the_issuer_host_to_the_service() -> None:
    ingress = one(rendered("overlays/ingress"), "Ingress", "idp")["spec"]
    config = of_kind(rendered("overlays/single"), "ConfigMap")[0]["data"]
    host = config["IDP_ISSUER"].removeprefix("https://")
    assert ingress["rules"][0]["host"] == host
    assert ingress["tls"][0]["hosts"] == [host]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "idp", "port": {"name": "http"}}
