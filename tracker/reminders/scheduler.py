"""The scheduler: rules + flush every few minutes, the outbox every minute, the rules at the digest's time.

Every process may run a scheduler; only the elected leader (tracker.reminders.leader) runs
the jobs, the others renew their candidacy each tick and take over when the leader is gone.
The outbox makes a job that runs twice or dies half way harmless anyway.
"""

from __future__ import annotations

import atexit
import logging
import os

import click
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from tracker import sqlite as tracker_sqlite
from tracker.clock import current_clock
from tracker.extensions import db
from tracker.reminders import outbox, services
from tracker.reminders.leader import make_elector

log = logging.getLogger(__name__)


def _settings(app: Flask) -> dict:
    cfg = app.config
    return {
        "tick": int(cfg.get("SCHEDULER_TICK_SECONDS", 20)),
        "ttl": int(cfg.get("SCHEDULER_LEASE_SECONDS", 60)),
        "rules": int(cfg.get("REMINDER_INTERVAL_SECONDS", 300)),
        "flush": int(cfg.get("OUTBOX_FLUSH_SECONDS", 60)),
    }


class Jobs:
    """The scheduler's jobs, each in an app context and only on the leader."""

    def __init__(self, app: Flask, elector):
        self.app, self.elector = app, elector

    def _run(self, name: str, work) -> None:
        with self.app.app_context():
            try:
                if self.elector.tick():
                    work(current_clock())
            except Exception:  # a failed run is logged and retried next time; the scheduler lives on
                log.exception("reminder job %s failed", name)
                db.session.rollback()
            finally:
                db.session.remove()

    def heartbeat(self) -> None:
        self._run("heartbeat", lambda clock: None)

    def rules(self) -> None:
        self._run("rules", lambda clock: services.run_once(clock, with_digest=None))

    def flush(self) -> None:
        self._run("flush", outbox.flush)

    def maintenance(self) -> None:
        self._run("maintenance", lambda clock: tracker_sqlite.optimize(db.engine))


def build(app: Flask, blocking: bool = False):
    """A scheduler with the reminder jobs (one worker thread: jobs never overlap in a process)."""
    s = _settings(app)
    with app.app_context():
        elector = make_elector(db.engine, s["ttl"])
    jobs = Jobs(app, elector)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    sched = cls(executors={"default": ThreadPoolExecutor(1)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
                timezone=app.config["TIMEZONE"])
    sched.add_job(jobs.heartbeat, "interval", seconds=s["tick"], id="heartbeat")
    sched.add_job(jobs.rules, "interval", seconds=s["rules"], id="rules")
    sched.add_job(jobs.flush, "interval", seconds=s["flush"], id="flush")
    # At the digest's cron time a pass of the rules, which queues the digest (its only trigger), so
    # it leaves on time rather than at the next interval.
    sched.add_job(jobs.rules, CronTrigger.from_crontab(app.config["WEEKLY_DIGEST_CRON"],
                                                        timezone=app.config["TIMEZONE"]), id="digest")
    sched.add_job(jobs.maintenance, CronTrigger(hour=3, minute=30, timezone=app.config["TIMEZONE"]),
                  id="maintenance")
    sched.reminder_jobs, sched.elector = jobs, elector
    return sched


def _serving(app: Flask) -> bool:
    """True in a process that serves requests: gunicorn & co, or `flask run` (its reloader's child)."""
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return True
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run" or ctx.parent is None or ctx.parent.parent is not None:
        return False  # any other flask command: db upgrade, reminders run, scheduler …
    reload = ctx.params.get("reload")
    if reload is None:
        reload = app.debug
    return not reload or os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def init_app(app: Flask) -> None:
    """Start the background scheduler in a serving process when SCHEDULER_ENABLED (never in tests)."""
    if not app.config.get("SCHEDULER_ENABLED") or app.config.get("TESTING") or not _serving(app):
        return
    sched = build(app)
    sched.start()
    app.extensions["reminders_scheduler"] = sched
    sched.add_job(sched.reminder_jobs.rules, id="rules-at-start")  # a first pass right away

    def stop():
        sched.shutdown(wait=False)
        sched.elector.release()

    atexit.register(stop)
