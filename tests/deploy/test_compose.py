"""deploy/compose.yaml follows the Compose Specification and keeps the stack's shape: two IdPs behind the proxy."""

from __future__ import annotations

import re

import yaml

from tests.deploy.manifests import COMPOSE_FILE, DEPLOY, compose_schema_errors, docker_compose_errors

IDP_SERVICES = ("idp1", "idp2")


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_the_file_follows_the_compose_specification() -> None:
    assert compose_schema_errors(compose()) == []
    # Docker's own reading too, where Compose is installed (it needs no engine for this).
    assert docker_compose_errors() in (None, "")


def test_two_idp_instances_start_only_after_the_migration_step_succeeded() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["flask", "prepare"]
    assert services["migrate"]["build"]["context"] == ".."
    for name in IDP_SERVICES:
        service = services[name]
        assert service["command"] == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
        assert service["image"] == services["migrate"]["image"]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["environment"]["IDP_TRUSTED_PROXIES"] == "1"
        assert service["read_only"] is True


def test_every_long_running_service_has_its_healthcheck() -> None:
    services = compose()["services"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in IDP_SERVICES:
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"]
        assert "urllib" in test[3] and "/readyz" in test[3]
        assert services["proxy"]["depends_on"][name] == {"condition": "service_healthy"}


def test_mail_goes_to_mailpit_in_plain_smtp() -> None:
    services = compose()["services"]
    environment = services["idp1"]["environment"]
    assert (environment["IDP_SMTP_HOST"], environment["IDP_SMTP_PORT"], environment["IDP_SMTP_SECURITY"]) == (
        "mailpit",
        "1025",
        "none",
    )
    assert "127.0.0.1:8025:8025" in services["mailpit"]["ports"]


def test_images_are_pinned_never_latest() -> None:
    for name, service in compose()["services"].items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), (name, image)
        assert not image.endswith(":latest"), (name, image)


def test_the_proxy_spreads_requests_over_both_instances() -> None:
    proxy = compose()["services"]["proxy"]
    assert proxy["ports"] == ["127.0.0.1:8080:8080"]
    mount = next(volume for volume in proxy["volumes"] if volume.startswith("./compose/"))
    config = (DEPLOY / mount.split(":")[0]).read_text()
    servers = re.findall(r"^\s*server (\S+?):8000\b", config, re.MULTILINE)
    assert sorted(servers) == sorted(IDP_SERVICES)
    assert "proxy_pass http://idp;" in config
    assert re.search(r"^\s*listen 8080;", config, re.MULTILINE)


def test_secrets_are_read_from_the_env_file_beside_it() -> None:
    environment = compose()["services"]["idp1"]["environment"]
    demo_values = dict(line.split("=", 1) for line in (DEPLOY / ".env").read_text().splitlines() if re.match(r"\w+=", line))
    for variable in ("IDP_SECRET_KEY", "IDP_METRICS_TOKEN"):
        assert environment[variable] == f"${{{variable}:?set it in deploy/.env}}"
        assert demo_values[variable]
    assert "${POSTGRES_PASSWORD:?" in environment["IDP_DATABASE_URL"]
