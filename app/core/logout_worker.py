"""The thread that delivers back-channel logout tokens in each server process (app/core/logout_delivery.py).

It is woken after any commit that queued a logout, and otherwise looks every POLL_SECONDS for retries
that came due. Started in the process that serves (after gunicorn forks, by the post_worker_init hook
in gunicorn.conf.py, or by the first wake-up), never in `flask` commands, and only when
IDP_BACKCHANNEL_LOGOUT_WORKER is on (the test suite delivers by hand, time moved).
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.backchannel_logout import SESSION_QUEUED
from app.core.logout_delivery import deliver_due
from app.extensions import db

log = logging.getLogger(__name__)

POLL_SECONDS = 15.0
_EXTENSION = "logout_worker"


class LogoutWorker:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the process the thread runs in: a forked child starts its own

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                threading.Thread(target=self._run, name="logout-worker", daemon=True).start()
                self._pid = os.getpid()

    def wake(self) -> None:
        self.ensure_running()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            with self._app.app_context():
                try:
                    deliver_due()
                except Exception:  # a database outage must not end the thread: the rows wait, it tries again
                    log.exception("back-channel logout delivery failed; retrying in %s s", POLL_SECONDS)
                    db.session.rollback()
                finally:
                    db.session.remove()


def init_logout_worker(app: Flask) -> None:
    """Keep a worker for this app (not started yet), and wake it after each commit that queued a logout."""
    if not app.config["BACKCHANNEL_LOGOUT_WORKER"]:
        return
    app.extensions[_EXTENSION] = LogoutWorker(app)
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


def start_logout_worker(app: Flask) -> None:
    """In a serving process: pick up what an earlier process left queued (a restart, a crash)."""
    worker = app.extensions.get(_EXTENSION)
    if worker is not None:
        worker.wake()  # starts this process's thread, which first sends what is due


def _after_commit(session: Session) -> None:
    if session.info.pop(SESSION_QUEUED, False):
        worker = current_app.extensions.get(_EXTENSION)
        if worker is not None:
            worker.wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(SESSION_QUEUED, None)  # rolled back: nothing was queued after all
