"""/metrics through a live gunicorn with two workers, started with gunicorn.conf.py (multiprocess mode).

Each worker writes its counters to its own files in PROMETHEUS_MULTIPROC_DIR; a scrape, whichever worker
answers it, must add them all up. The test reads the files per worker too, so it knows both served some
of the requests, and checks that every scrape reports exactly the requests it made.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DEFAULT_PASSWORD
from tests.e2e.server import PROJECT_ROOT, VENV_BIN, LiveServer, migrate, server_database, server_env, stop, wait_until_ready
from tests.mailbox import free_port

TOKEN = "live-metrics-" + "t" * 32
EMAIL = "ada@example.com"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
LOAD = 40  # fresh connections: SO_REUSEPORT spreads them over both workers' sockets
HEALTHZ = {"route": "/healthz", "method": "GET", "status": "200"}


@pytest.fixture
def live(tmp_path: Path, smtp_server):
    port = free_port()
    instance = tmp_path / "instance"
    instance.mkdir()
    metrics_dir = tmp_path / "metrics"  # given, so the test can read each worker's files
    with server_database(tmp_path) as database_url:
        env = server_env(port, database_url, instance, smtp_server.port)
        env.update(IDP_METRICS_TOKEN=TOKEN, WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        env["IDP_REDIS_KEY_PREFIX"] = env["IDP_RATELIMIT_KEY_PREFIX"] = f"test-metrics-{port}"
        migrate(env)
        server = LiveServer(env["IDP_ISSUER"], database_url, tmp_path / "server.log", None, None, env)
        server.flask("keys", "ensure")
        server.flask("users", "create", "--email", EMAIL, "--password", DEFAULT_PASSWORD)
        machine = json.loads(
            server.flask("clients", "create", "--name", "Batch", "--grant", "client_credentials", "--scope", "api")
        )
        # Only --bind on the command line: workers, threads and the metrics hooks come from the config file.
        command = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
        with server.log_path.open("wb") as log_file:
            server.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(server, f"http://127.0.0.1:{port}/healthz")
            yield server, machine, metrics_dir
        finally:
            stop(server.process)


def base(server: LiveServer) -> str:
    return server.url.replace("localhost", "127.0.0.1")


def scrape(server: LiveServer) -> tuple[str, dict]:
    response = requests.get(f"{base(server)}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text[:300]
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def healthz_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own count of /healthz answers, from its own counter file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.split("_")[-1]
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "idp_http_requests_total" and sample.labels == HEALTHZ:
                    counts[pid] = sample.value
    return counts


def sign_in(server: LiveServer) -> None:
    browser = requests.Session()
    page = browser.get(f"{server.url}/login", timeout=10)
    data = {"csrf_token": CSRF.search(page.text).group(1), "email": EMAIL, "password": DEFAULT_PASSWORD}
    response = browser.post(f"{server.url}/login", data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text[:300]


def test_two_workers_share_one_view_of_the_counters(live):
    server, machine, metrics_dir = live
    _, before = scrape(server)

    sign_in(server)
    token = requests.post(
        f"{base(server)}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(machine["client_id"], machine["client_secret"]),
        timeout=10,
    )
    assert token.status_code == 200, token.text[:300]
    for _ in range(LOAD):
        assert requests.get(f"{base(server)}/healthz", timeout=10).status_code == 200  # a new connection each

    per_worker = healthz_per_worker(metrics_dir)
    assert len(per_worker) == 2 and all(count > 0 for count in per_worker.values()), per_worker
    for _ in range(4):  # whichever worker answers, it reports every worker's requests
        text, after = scrape(server)
        assert value(after, "idp_http_requests_total", **HEALTHZ) - value(before, "idp_http_requests_total", **HEALTHZ) == LOAD
        assert value(after, "idp_http_requests_total", **HEALTHZ) == sum(per_worker.values())
        assert value(after, "idp_sign_ins_total", factor="password", result="success") == 1
        assert value(after, "idp_tokens_issued_total", grant_type="client_credentials", client_type="confidential") == 1
        for secret in (EMAIL, machine["client_id"], machine["client_secret"], token.json()["access_token"], TOKEN):
            assert secret not in text
    print(f"\nsample scrape after {LOAD + 2} requests:\n{text}")  # shown with -s
