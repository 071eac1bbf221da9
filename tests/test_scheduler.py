"""One scheduler leads (lease row on SQLite, advisory lock on PostgreSQL); concurrent runs never duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TODAY, when
from test_reminders_delivery import SMTPServer, free_port

from tracker import create_app
from tracker.extensions import db
from tracker.reminders import scheduler
from tracker.reminders.leader import AdvisoryElector, LeaseElector, make_elector
from tracker.reminders.models import Notification, NotificationKind, SchedulerLease
from tracker.reminders.models import NotificationStatus as St

ROOT = Path(__file__).resolve().parent.parent
T0 = when("2026-06-15T10:00:00").now()


def seconds(n: int):
    return T0 + timedelta(seconds=n)


def test_second_process_is_not_leader_while_the_first_heartbeats_and_takes_over_after_ttl(app):
    first, second = LeaseElector(db.engine, 60, "first"), LeaseElector(db.engine, 60, "second")
    assert first.tick(seconds(0))
    assert not second.tick(seconds(10))
    assert first.tick(seconds(40))
    assert not second.tick(seconds(99))  # 59 s since the last heartbeat
    assert second.tick(seconds(101))  # the first stopped beating: taken over
    assert not first.tick(seconds(102))
    lease = db.session.get(SchedulerLease, "reminders")
    assert lease.holder == "second"
    second.release()
    assert first.tick(seconds(103))  # a clean stop hands over at once


def test_the_database_decides_which_election(app):
    elector = make_elector(db.engine, 60)
    expected = AdvisoryElector if db.engine.dialect.name == "postgresql" else LeaseElector
    assert isinstance(elector, expected)


def test_advisory_lock_is_released_when_the_leaders_connection_dies(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    first, second = AdvisoryElector(db.engine, 60), AdvisoryElector(db.engine, 60)
    try:
        assert first.tick() and first.tick()
        assert not second.tick()
        first.conn.invalidate()  # the process died: the server drops its session and the lock
        first.conn = None
        # The server ends that session once it sees the socket closed, a moment later (CI saw the
        # very next tick lose that race once); a stand-by ticks every 20 s, here every 0.1 s for 5 s.
        deadline = time.monotonic() + 5
        while not second.tick() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert second.leading
        assert not first.tick()
        assert db.session.get(SchedulerLease, "reminders").holder == second.holder
    finally:
        first.release()
        second.release()


def test_jobs_run_only_on_the_leader(app):
    ran = []
    leader = scheduler.Jobs(app, LeaseElector(db.engine, 60, "a"))
    other = scheduler.Jobs(app, LeaseElector(db.engine, 60, "b"))
    leader._run("probe", lambda clock: ran.append("a"))
    other._run("probe", lambda clock: ran.append("b"))
    leader._run("probe", lambda clock: 1 / 0)  # a failing job is logged, not raised
    leader._run("probe", lambda clock: ran.append("a"))
    assert ran == ["a", "a"]


def test_scheduler_jobs_and_digest_time(app):
    sched = scheduler.build(app)
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) >= {"heartbeat", "rules", "flush", "digest"}
    assert jobs["rules"].trigger.interval == timedelta(seconds=300)
    sched.start(paused=True)
    try:
        fire = sched.get_job("digest").next_run_time
        assert fire.weekday() == 0 and (fire.hour, fire.minute) == (9, 0)
        assert fire.utcoffset() == timedelta(hours=8)
    finally:
        sched.shutdown(wait=False)


def test_no_scheduler_in_tests_or_in_other_commands(app, monkeypatch):
    os.environ["TRACKER_INSTANCE_PATH"] = app.instance_path
    try:
        enabled = create_app({"TESTING": True, "SCHEDULER_ENABLED": True,
                              "DATABASE_URL": app.config["DATABASE_URL"]})
    finally:
        del os.environ["TRACKER_INSTANCE_PATH"]
    assert "reminders_scheduler" not in enabled.extensions
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    assert not scheduler._serving(app)  # `flask db upgrade`, `flask reminders run` …
    monkeypatch.delenv("FLASK_RUN_FROM_CLI")
    assert scheduler._serving(app)  # gunicorn and other WSGI servers


# --- real processes -----------------------------------------------------------------------------------


def _environment(app, tmp_path, smtp_port: int, **config) -> dict:
    instance = tmp_path / "proc-instance"
    instance.mkdir(exist_ok=True)
    settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port, **config}
    (instance / "config.py").write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "DATABASE_URL", "SCHEDULER"))}
    env.update(TRACKER_INSTANCE_PATH=str(instance), DATABASE_URL=app.config["DATABASE_URL"])
    return env


def _flask(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "tracker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _rows():
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def overdue_work(org, make):
    """Measures that give every kind of reminder on 2026-06-25 (overdue, escalation, due soon)."""
    problem = make.problem(org.mgr_a, responsible_leader=org.viewer_root)
    for days in (1, 2, 3, 12):
        make.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY + timedelta(days=days))
    make.task(org.mgr_b, owner=org.staff_b, deadline=TODAY + timedelta(days=1))
    db.session.commit()


def test_two_concurrent_reminder_runs_deliver_each_reminder_once(app, tmp_path, overdue_work):
    server = SMTPServer(free_port()).start()
    try:
        env = _environment(app, tmp_path, server.port)
        for _ in range(2):  # twice: the second round finds everything done
            procs = [_flask(env, "reminders", "run", "--now", "2026-06-25T10:00:00") for _ in range(2)]
            outputs = [p.communicate(timeout=120)[0] for p in procs]
            assert [p.returncode for p in procs] == [0, 0], outputs
        rows = _rows()
        assert len(rows) > 15 and {n.status for n in rows} == {St.SENT}
        ids = server.inbox.ids()
        assert sorted(ids) == [n.id for n in rows]  # every one delivered, none twice
    finally:
        server.stop()


def test_two_scheduler_processes_one_leads_and_the_other_takes_over(app, tmp_path, overdue_work, make, org):
    server = SMTPServer(free_port()).start()
    env = _environment(app, tmp_path, server.port, NOW="2026-06-25T10:00:00", SCHEDULER_TICK_SECONDS=1,
                       SCHEDULER_LEASE_SECONDS=3, REMINDER_INTERVAL_SECONDS=1, OUTBOX_FLUSH_SECONDS=1)
    procs = [_flask(env, "scheduler") for _ in range(2)]
    try:
        assert _wait(lambda: (rows := _rows()) and len(rows) > 15
                     and all(n.status == St.SENT for n in rows)), [n.status for n in _rows()]
        holder = db.session.get(SchedulerLease, "reminders").holder
        leader = next(p for p in procs if f":{p.pid}:" in holder)
        leader.send_signal(signal.SIGKILL)  # a crash: no clean hand-over
        leader.wait(timeout=10)
        make.task(org.mgr_a, owner=org.staff_a1, measure="接手后的提醒")
        db.session.commit()
        assert _wait(lambda: all(n.status == St.SENT for n in _rows())), [n.status for n in _rows()]
        db.session.expire_all()
        assert db.session.get(SchedulerLease, "reminders").holder != holder
        assert sorted(server.inbox.ids()) == [n.id for n in _rows()]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()


def test_the_weekly_digest_is_built_once_even_when_the_cron_entry_and_the_rules_pass_both_run(
        app, org, make, monkeypatch):
    """Each later pass in the digest's window looks again (so a pass that died half way is finished),
    but builds nobody's digest twice: a digest is rendered once per person and week."""
    from tracker.reminders import messages

    make.task(org.mgr_a, owner=org.staff_a, measure="周报里的措施")
    db.session.commit()
    built = []
    real = messages.render

    def render(kind, user, **ctx):
        if kind == NotificationKind.DIGEST:
            built.append((user.id, ctx["week"]))
        return real(kind, user, **ctx)
    monkeypatch.setattr(messages, "render", render)
    sched = scheduler.build(app)
    for moment in ("2026-06-15T09:00:00", "2026-06-15T09:00:05", "2026-06-15T09:05", "2026-06-16T08:00"):
        app.config["NOW"] = moment  # Monday 09:00, the cron time, then the rules' later passes
        for job_id in ("digest", "rules"):
            sched.get_job(job_id).func()
    assert built and len(built) == len(set(built))
    keys = db.session.scalars(sa.select(Notification.dedupe_key).where(Notification.kind == "digest")).all()
    assert sorted(keys) == sorted(set(keys)) and len(keys) == len(built)
    assert all(key.endswith(":2026-W25") for key in keys)
    first_week = len(built)
    app.config["NOW"] = "2026-06-22T09:00:00"  # next Monday: next week's digest, once again
    sched.get_job("digest").func()
    sched.get_job("rules").func()
    assert len(built) == 2 * first_week and {w for _u, w in built[first_week:]} == {"2026-W26"}
