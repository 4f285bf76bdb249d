"""gunicorn's settings for the IdP, and the bookkeeping Prometheus needs when several workers serve it.

gunicorn reads this file from the working directory by itself (or `-c gunicorn.conf.py`); command-line
options override it, so `--bind 0.0.0.0:8000` in a container or `--workers 1` in .ci/serve still win.

Metrics (app/metrics.py): each worker is its own process with its own counters. In multiprocess mode
each writes them to files in PROMETHEUS_MULTIPROC_DIR and the worker answering /metrics merges all of
them. The variable must be in the environment before a worker imports prometheus_client: it is set
here, in the master, before any worker is forked (workers inherit the environment). Without it a
scrape would report only the share of traffic the answering worker happened to serve.
"""

import ctypes
import gc
import os
import shutil
import tempfile
from pathlib import Path

# Loopback unless told otherwise: the container passes --bind 0.0.0.0:8000 so its port can be published.
bind = "127.0.0.1:8000"
# Without Redis, rate limits are counted in each process: one worker keeps them exact (threads still
# serve requests side by side). With IDP_REDIS_URL the limits are shared and two workers use both cores.
workers = int(os.environ.get("WEB_CONCURRENCY") or (2 if os.environ.get("IDP_REDIS_URL") else 1))
threads = 4
# The app is loaded once, in the master, and the workers are forked from it: they share its code and
# read-only data (copy-on-write), so each worker's own memory is about a third (bench/README.md).
# Nothing that must not be shared exists yet at that point: the factory does no I/O (no database or
# Redis connection, no keys loaded: each worker loads its own on first use; redis-py reconnects in a
# new process by itself), random numbers come from the kernel (secrets), and post_worker_init drops
# any pooled database connection. A code change needs a restart, not just a HUP, to be picked up.
preload_app = True
# One listening socket per worker: the kernel spreads connections over the workers (bench/README.md).
reuse_port = True
# No control socket: nothing here drives gunicorn at run time, so no socket file to protect.
control_socket_disable = True
# gunicorn must not interpret X-Forwarded-* itself: IDP_TRUSTED_PROXIES (Werkzeug's ProxyFix in the app)
# is the single proxy setting, so a client can't switch the scheme by sending the header to gunicorn.
forwarded_allow_ips = ""
# No access log: gunicorn's prints raw paths, and reset and verification links carry tokens in theirs.
# The app logs each request with its route pattern instead (app/log.py).
accesslog = None


def _freed_memory_goes_back_to_the_system() -> None:
    """Keep glibc from hoarding argon2id's 19 MiB blocks.

    glibc's malloc serves a large block with mmap (returned to the system when freed) until such a block
    is freed; then it raises its threshold to that size and serves the next ones from the heap, which it
    keeps. Every password check allocates 19 MiB, so a worker that once checked four at a time would keep
    ~80 MB for good. A fixed threshold (set here, in the master, and inherited by every worker) keeps big
    blocks mmapped. Not glibc (musl, macOS): nothing to do.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold = -3  # mallopt's M_MMAP_THRESHOLD; setting it turns the dynamic threshold off
    libc.mallopt(m_mmap_threshold, 128 * 1024)


_freed_memory_goes_back_to_the_system()

_MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A directory made here for this server alone is removed when it exits; one given by the operator is kept.
_own_metrics_dir = None
if not os.environ.get(_MULTIPROC_VARIABLE):
    _own_metrics_dir = tempfile.mkdtemp(prefix="idp-metrics-")
    os.environ[_MULTIPROC_VARIABLE] = _own_metrics_dir


def when_ready(server):
    """Name the address on the first lines: with reuse_port gunicorn's own banner may not show it.

    Also the last step before the first fork: the objects the preloaded app made so far are moved out
    of the garbage collector's sight, so its passes in a worker don't write to (and so copy) the pages
    every worker shares with the master.
    """
    if server.cfg.preload_app:
        gc.freeze()
    addresses = ", ".join(f"http://{address}" for address in server.cfg.bind)
    server.log.info("Serving the IdP at %s with %d worker(s)", addresses, server.cfg.workers)


def on_starting(server):
    """Before the first worker: files left by an earlier run would be added to this run's counts."""
    directory = Path(os.environ[_MULTIPROC_VARIABLE])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A worker ended (restart, crash): its live gauges go; its counters stay in the totals, as they should."""
    from prometheus_client import multiprocess  # here, not at the top: only once the variable is set

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir is not None:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)


def post_worker_init(worker):
    """In each worker, once the app is loaded: its own database pool, and the back-channel logout thread.

    Here rather than at import, so it runs in the forked worker (the app is preloaded) and never in a
    `flask` command; the thread first delivers whatever an earlier worker left queued.
    """
    from app.core.logout_worker import start_logout_worker
    from app.extensions import db

    with worker.wsgi.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)  # a connection the master may have opened stays the master's
    start_logout_worker(worker.wsgi)
