"""Benchmark the protocol endpoints and password sign-in against docs/architecture.md's performance budget,
side by side with node oidc-provider as the reference.

    .venv/bin/python bench/run.py                          # everything, ~6 min
    .venv/bin/python bench/run.py --scenario token --scenario introspect --repeat 3
    .venv/bin/python bench/run.py --no-reference

What it does, all on this machine and all undone at the end:
  1. installs ``wrk`` with apt-get when it is missing (needs root), and node oidc-provider with npm into
     the run's temporary folder (bench/reference/);
  2. creates a fresh PostgreSQL database ``idp_bench_<random>`` (dropped at the end), runs
     ``flask db upgrade`` on it, creates the clients each scenario needs, and seeds single-use
     authorization codes and refresh tokens (bench/seed.py);
  3. serves the IdP (wsgi:app, with the project's gunicorn.conf.py), bench/bare_app.py (the ceiling
     gunicorn and Flask leave) and the reference (as many processes as workers), all on free loopback
     ports, Redis behind the limiter and the reference's storage;
  4. for each scenario and concurrency runs wrk against each server in turn (interleaved, so the
     machine's moods fall on both sides), then password sign-ins (bench/signin.py), and prints
     requests/s, p50/p99, errors, server CPU per request, the ratio to the reference, where the CPU
     went, each worker's USS/PSS/RSS, and the goals with ok/MISSED.

Every process it starts is stopped by its PID. wrk runs on the same two cores as the servers, and so
does PostgreSQL: the ``gen`` and ``db`` columns show their share, ``other`` what the rest of the machine
took meanwhile (other people's test runs disturb rates, not CPU per request; ``--repeat`` keeps the best).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import signin
from reference import API, NodeReference, child_pids, install

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = PROJECT_ROOT / "bench"
VENV_BIN = Path(sys.prefix) / "bin"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
READY_SECONDS = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
DISTURBED = 0.25  # other processes using more than a quarter of a core during a row

# docs/architecture.md, "Performance budget".
# The goals of docs/architecture.md's performance budget (issue 17), checked against the same run's figures.
MAX_CPU_MS = {"token": 0.8, "introspect": 1.0}  # server CPU per request
MIN_REFERENCE_RATIO = {"token": 0.6, "discovery": 0.9, "jwks": 0.9}  # of node oidc-provider's req/s
INTROSPECT_BEFORE = {16: 882, 64: 699}  # req/s measured before issue 17 (its table): the goal is twice that
MAX_P99_MS = {("token", 16): 50.0}
MAX_USS_MB = 80.0
MIN_SIGN_INS_PER_CORE, MAX_SIGN_IN_P50_MS = 25.0, 100.0

WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# Each request takes the next line of the file (one wrk thread: one Lua state, so no line is sent twice).
ONE_BODY_EACH = r"""
local bodies, next_body = {}, 0
for line in io.lines(BODIES) do bodies[#bodies + 1] = line end
request = function()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    bodies: Path | None = None  # one body per line, each sent once (single-use codes and refresh tokens)

    def lua(self) -> str:
        lines = [f'wrk.method = "{self.method}"']
        if self.body is not None:
            lines.append(f"wrk.body = {json.dumps(self.body)}")
        for name, value in self.headers.items():
            lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
        if self.bodies is not None:
            lines.append(ONE_BODY_EACH.replace("BODIES", json.dumps(str(self.bodies))))
        return "\n".join(lines) + "\n" + WRK_REPORT


@dataclass
class Result:
    scenario: str
    server: str  # "idp", "reference" (node oidc-provider) or "bare"
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu: float  # cores used by gunicorn (master and workers)
    db_cpu: float  # by the PostgreSQL backends serving the benchmark database
    gen_cpu: float  # by wrk
    other_cpu: float  # by everything else on the machine

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: what it costs, whatever else the machine was doing."""
        return self.server_cpu * 1000 / self.rps if self.rps else float("nan")


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU of each process that still exists (fields 14 and 15 of /proc/<pid>/stat)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return seconds


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (first line of /proc/stat less idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing and this is not root: install it with `apt-get install wrk`.")
    print("installing wrk with apt-get ...", flush=True)
    quiet = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    }
    if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, **quiet)
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get ran but wrk is still missing")
    return found


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "flask"), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_client(env: dict[str, str], name: str) -> tuple[str, str]:
    output = flask_cli(
        env, "clients", "create", "--name", name, "--type", "confidential", "--grant", "client_credentials", "--scope", "api"
    )
    data = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return data["client_id"], data["client_secret"]


def basic_auth(client_id: str, secret: str) -> str:
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class BenchDatabase:
    """A fresh PostgreSQL database for one run, and the CPU its backends use."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        url = make_url(admin_url)
        self.name = f"idp_bench_{secrets.token_hex(6)}"
        self.url = url.set(database=self.name).render_as_string(hide_password=False)
        self._admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _execute(self, sql: str, **params) -> list:
        from sqlalchemy import text

        with self._admin.connect() as connection:
            result = connection.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    def create(self) -> None:
        self._execute(f'CREATE DATABASE "{self.name}"')
        print(f"database {self.name} created", flush=True)

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()
        print(f"database {self.name} dropped", flush=True)

    def backend_cpu(self) -> dict[int, float]:
        rows = self._execute("SELECT pid FROM pg_stat_activity WHERE datname = :name", name=self.name)
        return process_cpu_seconds(row[0] for row in rows)


@contextmanager
def bench_database(admin_url: str) -> Iterator[BenchDatabase]:
    database = BenchDatabase(admin_url)
    database.create()
    try:
        yield database
    finally:
        database.drop()


class Gunicorn:
    """One gunicorn master we started, its workers found through /proc; stopped by its PID only."""

    def __init__(self, app: str, chdir: Path, env: dict[str, str], args: argparse.Namespace, worker_class: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(args.workers)]
        command += ["--worker-class", worker_class]
        if worker_class == "gthread":
            command += ["--threads", str(args.threads)]
        if args.reuse_port:
            command += ["--reuse-port"]
        command += ["--backlog", "2048", "--no-control-socket", "--graceful-timeout", "5", "--chdir", str(chdir), app]
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(command, cwd=chdir, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200 and self.worker_pids():
                        return
            except (urllib.error.URLError, OSError):
                pass
            try:
                self.process.wait(timeout=0.1)  # the pause between polls doubles as a death check
            except subprocess.TimeoutExpired:
                pass
        raise RuntimeError(f"gunicorn not ready after {READY_SECONDS:.0f}s:\n{self.log.read_text()[-4000:]}")

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def error_lines(self) -> list[str]:
        markers = ("Traceback", '"level": "ERROR"', '"level": "CRITICAL"', "[ERROR]", "[CRITICAL]", "WORKER TIMEOUT")
        return [line for line in self.log.read_text(errors="replace").splitlines() if any(m in line for m in markers)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM to the master's PID; gunicorn stops its own workers
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


# --- memory ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """One process's memory, in MiB: USS (its own pages only), PSS (shared pages split among sharers), RSS."""

    uss: float
    pss: float
    rss: float


def memory_of(pid: int) -> Memory | None:
    """From /proc/<pid>/smaps_rollup; USS is Private_Clean + Private_Dirty."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    kib = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            kib[name] = int(value.split()[0])
    return Memory((kib["Private_Clean"] + kib["Private_Dirty"]) / 1024, kib["Pss"] / 1024, kib["Rss"] / 1024)


def workers_memory(server) -> list[Memory]:
    return [m for m in (memory_of(pid) for pid in server.worker_pids()) if m is not None]


# --- load ------------------------------------------------------------------------------------


_BODIES_SPENT: dict[str, int] = {}  # single-use scenarios: how many lines of the file earlier runs used


def unused_bodies(scenario: Scenario, workdir: Path) -> Scenario:
    """The scenario with a file of the lines no earlier run used: a code or refresh token never goes twice."""
    lines = scenario.bodies.read_text().splitlines()[_BODIES_SPENT.get(scenario.name, 0) :]
    if not lines:
        raise RuntimeError(f"{scenario.name}: every seeded body is used up")
    remaining = workdir / f"{scenario.name}-remaining.txt"
    remaining.write_text("\n".join(lines) + "\n")
    return dataclasses.replace(scenario, bodies=remaining)


def cpu_of(server) -> dict[int, float]:
    """CPU of the server's processes: the master (gunicorn's, node's primary) and its workers."""
    return process_cpu_seconds([server.process.pid, *server.worker_pids()])


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots; a process that appeared in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def run_wrk(wrk: str, server, label: str, database, scenario: Scenario, concurrency: int, seconds: float, args, workdir: Path):
    script = workdir / f"{scenario.name}.lua"
    if scenario.bodies is not None:
        scenario = unused_bodies(scenario, workdir)
    script.write_text(scenario.lua())
    command = [
        wrk,
        "-t",
        str(min(args.wrk_threads, concurrency)),
        "-c",
        str(concurrency),
        "-d",
        f"{max(1, round(seconds))}s",
    ]  # wrk takes whole seconds
    command += ["--timeout", "5s", "-s", str(script), server.url + scenario.path]
    server_before, db_before = cpu_of(server), database.backend_cpu() if database else {}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = machine_busy_seconds()
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    machine_cpu = machine_busy_seconds() - machine_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = used(server_before, cpu_of(server))
    db_cpu = used(db_before, database.backend_cpu()) if database else 0.0
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    line = next((text for text in result.stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"no report from wrk:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    if scenario.bodies is not None:
        # Every line this run may have sent is spent: the ones answered, and one in flight per connection.
        _BODIES_SPENT[scenario.name] = _BODIES_SPENT.get(scenario.name, 0) + data["requests"] + concurrency
    elapsed = data["duration_us"] / 1e6
    gen_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return Result(
        scenario=scenario.name,
        server=label,
        concurrency=concurrency,
        rps=data["requests"] / elapsed,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=sum(data[k] for k in ("connect", "read", "write", "status", "timeout")),
        server_cpu=server_cpu / elapsed,
        db_cpu=db_cpu / elapsed,
        gen_cpu=gen_cpu / elapsed,
        other_cpu=max(machine_cpu - server_cpu - db_cpu - gen_cpu, 0.0) / elapsed,
    )


def http(server, scenario: Scenario, body: str | None = None) -> bytes:
    body = body if body is not None else scenario.body
    request = urllib.request.Request(
        server.url + scenario.path,
        data=body.encode() if body is not None else None,
        headers=scenario.headers,
        method=scenario.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{scenario.name}: HTTP {error.code}: {error.read()[:500]!r}") from None


def check_answer(server, scenario: Scenario) -> None:
    """One request before the load: a scenario that only produces errors must fail loudly, not be timed.

    Single-use scenarios are checked by the warm-up's error count instead (a check would spend a line)."""
    if scenario.bodies is not None:
        return
    body = http(server, scenario)
    if scenario.name == "introspect" and not json.loads(body).get("active"):
        raise RuntimeError(f"introspect: the token is not active: {body[:500]!r}")


@dataclass
class Contender:
    """A server in the comparison, with its own way of asking for each scenario (None: it has no such scenario)."""

    label: str
    server: object
    database: object
    scenarios: dict[str, Scenario]


def measure(wrk: str, contender: Contender, scenario: Scenario, concurrency: int, args, workdir: Path) -> Result:
    runs = [
        run_wrk(wrk, contender.server, contender.label, contender.database, scenario, concurrency, args.duration, args, workdir)
        for _ in range(args.repeat)
    ]
    best = max(runs, key=lambda r: r.rps)
    tries = f" (best of {', '.join(f'{r.rps:,.0f}' for r in runs)})" if args.repeat > 1 else ""
    print(
        f"  {contender.label} {scenario.name} c={concurrency}: {best.rps:,.0f} req/s, {best.cpu_ms:.2f} ms CPU{tries}", flush=True
    )
    return best


def bench_interleaved(wrk: str, contenders: list[Contender], names: list[str], args, workdir: Path) -> list[Result]:
    """Scenario by scenario, concurrency by concurrency, each contender in turn: whatever the machine does
    meanwhile falls on both sides of a comparison alike."""
    results = []
    for name in names:
        present = [c for c in contenders if name in c.scenarios]
        for contender in present:
            scenario = contender.scenarios[name]
            check_answer(contender.server, scenario)
            warm = run_wrk(
                wrk,
                contender.server,
                contender.label,
                contender.database,
                scenario,
                args.concurrency[0],
                args.warmup,
                args,
                workdir,
            )
            if warm.errors:
                raise RuntimeError(f"{contender.label} {name}: {warm.errors} errors in the warm-up")
        for concurrency in args.concurrency:
            for contender in present:
                results.append(measure(wrk, contender, contender.scenarios[name], concurrency, args, workdir))
    return results


# --- report ----------------------------------------------------------------------------------


def goal_text(result: Result, reference: dict[tuple[str, int], Result]) -> tuple[str, bool | None]:
    """The goals that apply to this IdP row, and whether the row meets all of them (None: no goal)."""
    if result.server != "idp":
        return "-", None
    parts, verdicts = [], []
    cpu = MAX_CPU_MS.get(result.scenario)
    if cpu is not None:
        parts.append(f"cpu<={cpu:g}ms")
        verdicts.append(result.cpu_ms <= cpu)
    ratio = MIN_REFERENCE_RATIO.get(result.scenario)
    theirs = reference.get((result.scenario, result.concurrency))
    if ratio is not None and theirs is not None:
        parts.append(f">={ratio:g}x ref")
        verdicts.append(result.rps >= ratio * theirs.rps)
    if result.scenario == "introspect" and result.concurrency in INTROSPECT_BEFORE:
        parts.append(f">={2 * INTROSPECT_BEFORE[result.concurrency]:,}/s")
        verdicts.append(result.rps >= 2 * INTROSPECT_BEFORE[result.concurrency])
    p99 = MAX_P99_MS.get((result.scenario, result.concurrency))
    if p99 is not None:
        parts.append(f"p99<={p99:g}ms")
        verdicts.append(result.p99_ms <= p99)
    if result.errors:
        verdicts.append(False)
    return " ".join(parts) or "-", (all(verdicts) if verdicts else None)


def print_table(title: str, results: list[Result]) -> None:
    reference = {(r.scenario, r.concurrency): r for r in results if r.server == "reference"}
    header = (
        f"{'scenario':<11}{'server':<10}{'c':>4}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'CPU ms':>7}"
        f"{'x ref':>7}{'srv':>6}{'db':>5}{'gen':>5}{'other':>6}  goal"
    )
    print(f"\n{title}\n{header}\n{'-' * (len(header) + 24)}")
    for r in results:
        theirs = reference.get((r.scenario, r.concurrency))
        ratio = f"{r.rps / theirs.rps:>7.2f}" if theirs is not None and r.server == "idp" else f"{'':>7}"
        goal, ok = goal_text(r, reference)
        verdict = "" if ok is None else (" ok" if ok else " MISSED")
        disturbed = "  (disturbed)" if r.other_cpu > DISTURBED else ""
        print(
            f"{r.scenario:<11}{r.server:<10}{r.concurrency:>4}{r.rps:>8,.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{r.errors:>7}"
            f"{r.cpu_ms:>7.2f}{ratio}{r.server_cpu * 100:>5.0f}%{r.db_cpu * 100:>4.0f}%"
            f"{r.gen_cpu * 100:>4.0f}%{r.other_cpu * 100:>5.0f}%  {goal}{verdict}{disturbed}",
            flush=True,
        )


def print_memory(memory: dict[str, list[Memory]]) -> None:
    print("\nmemory per worker after the load (MiB; USS = its own pages, PSS = shared pages split among sharers)")
    for label, workers in memory.items():
        listed = ", ".join(f"USS {m.uss:.1f} / PSS {m.pss:.1f} / RSS {m.rss:.1f}" for m in workers)
        goal = ""
        if label == "idp" and workers:
            goal = f"  goal USS <= {MAX_USS_MB:g}: {'ok' if max(m.uss for m in workers) <= MAX_USS_MB else 'MISSED'}"
        print(f"  {label:<10} {listed}{goal}")


def print_sign_in(runs: list[tuple[int, object, float]]) -> None:
    print("\npassword sign-in (GET the form, POST it; argon2id as configured)")
    for concurrency, run, cpu in runs:
        per_core = run.sign_ins / cpu if cpu else float("nan")
        ok = per_core >= MIN_SIGN_INS_PER_CORE and run.p50_ms <= MAX_SIGN_IN_P50_MS and not run.errors
        print(
            f"  c={concurrency}: {run.rate:.1f} sign-ins/s, p50 {run.p50_ms:.0f} ms, p99 {run.p99_ms:.0f} ms, "
            f"{run.errors} errors, {per_core:.1f} per second of server CPU (per core)"
            f"  goal >= {MIN_SIGN_INS_PER_CORE:g}/core at p50 <= {MAX_SIGN_IN_P50_MS:g} ms: {'ok' if ok else 'no'}",
            flush=True,
        )


def server_env(database_url: str, redis_url: str, instance_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update(
        FLASK_APP="wsgi",
        IDP_ENV="production",
        IDP_ISSUER="https://idp.bench.invalid",  # only a name inside the tokens here; no request goes to it
        IDP_DATABASE_URL=database_url,
        IDP_REDIS_URL=redis_url,
        IDP_SECRET_KEY=secrets.token_urlsafe(48),
        IDP_INSTANCE_DIR=str(instance_dir),
        IDP_LOG_JSON="1",
        GLIBC_TUNABLES="glibc.malloc.hugetlb=1",  # as the Dockerfile runs it
        # Production refuses to start without mail; nothing listens there, and no scenario sends any.
        IDP_SMTP_HOST="127.0.0.1",
        IDP_SMTP_PORT=str(free_port()),
        IDP_SMTP_SECURITY="none",
        # The limiter stays on, with Redis, as in production. The machine endpoints measured here are
        # exempt from it and there are no default limits; the sign-in limits are raised so the sign-in
        # scenario is counted but never throttled. A run-specific key prefix keeps the counters apart.
        IDP_RATELIMIT_KEY_PREFIX=f"idp-bench-{secrets.token_hex(4)}",
        IDP_LIMIT_LOGIN_IP="1000000 per minute",
        IDP_LIMIT_LOGIN_ACCOUNT="1000000 per minute",
    )
    return env


def _interrupted(signum, frame) -> None:
    """SIGTERM ends the run like Ctrl-C: through the finally blocks that stop servers and drop the database."""
    raise KeyboardInterrupt


ALL_SCENARIOS = ["token", "introspect", "code", "refresh", "discovery", "jwks", "signin"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--worker-class", action="append", choices=["sync", "gthread"], help="repeat to compare (default: gthread)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (gunicorn.conf.py's)")
    parser.add_argument(
        "--no-reuse-port",
        dest="reuse_port",
        action="store_false",
        help="share one listening socket (default: a socket per worker, SO_REUSEPORT, as gunicorn.conf.py)",
    )
    parser.add_argument("--no-reference", dest="reference", action="store_false", help="skip node oidc-provider")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of untimed load before each scenario")
    parser.add_argument("--repeat", type=int, default=1, help="measure each row this often and keep the best")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (one is plenty and leaves the server more CPU)")
    parser.add_argument("--scenario", action="append", choices=ALL_SCENARIOS, help="default: all")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL to connect to for CREATE DATABASE")
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory with the server logs")
    return parser.parse_args()


def seed_single_use(env: dict[str, str], args, workdir: Path) -> tuple[Path, Path, str]:
    """Enough codes and refresh tokens for every timed and warm-up second at 2,000/s; the code client's Basic auth."""
    seconds = args.warmup + args.duration * len(args.concurrency) * args.repeat
    count = int(2000 * seconds) + 100
    folder = Path(tempfile.mkdtemp(prefix="seed-", dir=workdir))
    print(f"seeding {count:,} codes and {count:,} refresh tokens ...", flush=True)
    result = subprocess.run(
        [sys.executable, str(BENCH_DIR / "seed.py"), str(count), str(folder)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    client = json.loads(result.stdout.strip().splitlines()[-1])
    return folder / "code.txt", folder / "refresh.txt", basic_auth(client["client_id"], client["client_secret"])


def idp_scenarios(idp: Gunicorn, env: dict[str, str], names: list[str], args, workdir: Path) -> dict[str, Scenario]:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    machine = basic_auth(*create_client(env, f"bench-m2m-{secrets.token_hex(3)}"))
    resource_server = basic_auth(*create_client(env, f"bench-resource-server-{secrets.token_hex(3)}"))
    cc = Scenario("token", "/oauth/token", "POST", "grant_type=client_credentials", {**form, "Authorization": machine})
    token = json.loads(http(idp, cc))["access_token"]  # 10 minutes of life: enough for one worker class
    scenarios = {
        "token": cc,
        "introspect": Scenario(
            "introspect",
            "/oauth/introspect",
            "POST",
            f"token={token}&token_type_hint=access_token",
            {**form, "Authorization": resource_server},
        ),
        "discovery": Scenario("discovery", "/.well-known/openid-configuration"),
        "jwks": Scenario("jwks", "/oauth/jwks"),
    }
    if "code" in names or "refresh" in names:
        codes, refreshes, code_client = seed_single_use(env, args, workdir)
        auth = {**form, "Authorization": code_client}
        scenarios["code"] = Scenario("code", "/oauth/token", "POST", None, auth, bodies=codes)
        scenarios["refresh"] = Scenario("refresh", "/oauth/token", "POST", None, auth, bodies=refreshes)
    return scenarios


def reference_scenarios(node: NodeReference) -> dict[str, Scenario]:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    m2m = {**form, "Authorization": basic_auth(*node.m2m)}
    body = f"grant_type=client_credentials&scope=api&resource={urllib.parse.quote(API, safe='')}"
    opaque = json.loads(http(node, Scenario("token", "/token", "POST", "grant_type=client_credentials&scope=api", m2m)))
    return {
        "token": Scenario("token", "/token", "POST", body, m2m),
        "introspect": Scenario(
            "introspect",
            "/token/introspection",
            "POST",
            f"token={opaque['access_token']}&token_type_hint=access_token",
            {**form, "Authorization": basic_auth(*node.resource_server)},
        ),
        "discovery": Scenario("discovery", "/.well-known/openid-configuration"),
        "jwks": Scenario("jwks", "/jwks"),
    }


def bench_sign_in(idp: Gunicorn, env: dict[str, str], args) -> list[tuple[int, object, float]]:
    people = []
    for _ in range(8):
        email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
        flask_cli(env, "users", "create", "--email", email, "--password", password, "--name", "Bench")
        people.append((email, password))
    signin.run(idp.url, people, 1, args.warmup)  # warm-up, not kept
    runs = []
    for concurrency in (1, 2, 8):
        before = cpu_of(idp)
        run = signin.run(idp.url, people, concurrency, args.duration)
        runs.append((concurrency, run, used(before, cpu_of(idp))))
        print(f"  idp signin c={concurrency}: {run.rate:.1f}/s, p50 {run.p50_ms:.0f} ms", flush=True)
    return runs


def main() -> int:
    args = parse_args()
    worker_classes = args.worker_class or ["gthread"]
    names = args.scenario or ALL_SCENARIOS
    signal.signal(signal.SIGTERM, _interrupted)
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    summary = []
    node = None
    try:
        with bench_database(args.pg) as database:
            instance_dir = workdir / "instance"
            instance_dir.mkdir()
            env = server_env(database.url, args.redis, instance_dir)
            flask_cli(env, "db", "upgrade")
            flask_cli(env, "keys", "ensure")
            if args.reference:
                node = NodeReference(install(workdir), free_port(), args.workers, args.redis, workdir / "reference.log")
                node.wait_ready()
            for worker_class in worker_classes:
                label = f"{args.workers} {worker_class} workers" + (
                    f" x {args.threads} threads" if worker_class == "gthread" else ""
                )
                print(f"\n== {label}", flush=True)
                bare = Gunicorn("bare_app:app", BENCH_DIR, env, args, worker_class, workdir / f"bare-{worker_class}.log")
                idp = Gunicorn("wsgi:app", PROJECT_ROOT, env, args, worker_class, workdir / f"idp-{worker_class}.log")
                try:
                    bare.wait_ready("/bare")
                    idp.wait_ready("/healthz")
                    contenders = [
                        Contender("idp", idp, database, idp_scenarios(idp, env, names, args, workdir)),
                        Contender("bare", bare, None, {"bare": Scenario("bare", "/bare")}),
                    ]
                    if node is not None:
                        contenders.append(Contender("reference", node, None, reference_scenarios(node)))
                    wrk_names = [name for name in names if name != "signin"] + ["bare"]
                    results = bench_interleaved(wrk, contenders, wrk_names, args, workdir)
                    sign_ins = bench_sign_in(idp, env, args) if "signin" in names else []
                    memory = {"idp": workers_memory(idp), "bare": workers_memory(bare)}
                    if node is not None:
                        memory["reference"] = workers_memory(node)
                    server_errors = idp.error_lines()
                finally:
                    idp.stop()
                    bare.stop()
                if server_errors:
                    print(f"server logged {len(server_errors)} error lines, e.g.:\n  " + "\n  ".join(server_errors[:5]))
                summary.append((label, results, memory, sign_ins))
    finally:
        if node is not None:
            node.stop()
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    repeat = f", best of {args.repeat}" if args.repeat > 1 else ""
    print(
        f"\nwrk: {args.wrk_threads} thread(s), {args.duration:g} s per row{repeat}, after {args.warmup:g} s warm-up per scenario;"
        " rows of one scenario and concurrency run back to back, contender by contender."
        "\nreference: node oidc-provider (bench/reference/), as many processes as gunicorn workers, state in Redis."
        "\nerrors: socket errors + non-2xx/3xx answers. CPU ms: server CPU per request. x ref: req/s over the"
        "\nreference's in the same run. srv/db/gen/other: CPU used by the server, by PostgreSQL for this database,"
        f"\nby wrk and by the rest of the machine, in % of one core ({os.cpu_count()} cores in all)."
    )
    for label, results, memory, sign_ins in summary:
        print_table(label, results)
        print_memory(memory)
        if sign_ins:
            print_sign_in(sign_ins)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
