"""The threads that run queued ledger jobs (tracker.ledger.jobs) inside a web process.

No broker and no process of its own: the request that queues a job wakes a thread of its own
process after committing, and so does a page polling a job that waits too long (queued by a
process that has gone since, or whose worker stopped). A thread runs queued jobs until none is
left, then ends. LEDGER_JOB_WORKERS threads at most per process (2; 0 in tests, which call
`jobs.run_pending` themselves). The threads are daemons: a process that exits leaves its job
running in the database with a heartbeat that stops, and the sweep puts it back in the queue.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from tracker.ledger.jobs import run_pending

log = logging.getLogger(__name__)


class _Threads:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0


def size(app: Flask) -> int:
    configured = app.config.get("LEDGER_JOB_WORKERS")
    return int(configured) if configured is not None else (0 if app.testing else 2)


def wake(app: Flask) -> bool:
    """Start a thread to run queued jobs unless this process already runs enough; True if it did."""
    limit = size(app)
    if limit <= 0:
        return False
    threads = app.extensions.setdefault("ledger_job_threads", _Threads())
    with threads.lock:
        if threads.running >= limit:
            return False
        threads.running += 1
    threading.Thread(target=_drain, args=(app, threads), name="ledger-jobs", daemon=True).start()
    return True


def _drain(app: Flask, threads: _Threads) -> None:
    try:
        with app.app_context():
            while run_pending(limit=1):
                pass
    except Exception:  # logged; the job's heartbeat stops and the sweep takes it up again
        log.exception("ledger job thread failed")
    finally:
        with threads.lock:
            threads.running -= 1
