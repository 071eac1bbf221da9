"""Ledger imports as background jobs (issue 16): the bulk path writes exactly what the services wrote row
by row; the jobs' progress, their owner's scope, all-or-nothing with the reason shown, recovery after a
worker stopped, one run per job."""

from __future__ import annotations

import io
import random
import threading
import time
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import PASSWORD, TODAY
from flask_babel import force_locale
from ledger_rowwise import run_import_rowwise
from test_ledger_import import GOOD, checked, counts, real_world_ledger, stored, upload, workbook

from tracker.audit import services as audit_services
from tracker.audit.models import AuditEvent
from tracker.clock import utcnow
from tracker.extensions import db
from tracker.ledger import jobs
from tracker.ledger.importer import check_import, run_import
from tracker.ledger.models import ImportJob, JobPhase, JobState
from tracker.ledger.resolve import Resolver
from tracker.org import services as org_services
from tracker.org.models import User
from tracker.problems import bulk
from tracker.problems.models import Problem, Source, problem_cooperating_units
from tracker.reminders.models import Notification
from tracker.tasks.models import Task

# --- the bulk path against the services row by row ----------------------------------------------------

WRITTEN = (Source.__table__, Problem.__table__, problem_cooperating_units, Task.__table__,
           AuditEvent.__table__, Notification.__table__)
JSON_COLUMNS = {"before", "after", "data"}


def _max_ids() -> dict:
    return {t.name: db.session.scalar(sa.select(sa.func.max(t.c.id))) or 0 for t in WRITTEN if "id" in t.c}


def dump(before: dict) -> dict:
    """Every row the import wrote, the new rows' ids replaced by their order (PostgreSQL's sequences do not
    roll back, so the two runs' ids differ); JSON columns also as stored text (SQL NULL vs JSON null)."""
    db.session.flush()
    names: dict[tuple[str, int], str] = {}
    rows: dict[str, list] = {}
    for table in WRITTEN:
        extra = [sa.cast(table.c[c], sa.Text).label(f"{c}_raw") for c in JSON_COLUMNS if c in table.c]
        query = sa.select(table, *extra)
        if "id" in table.c:
            query = query.where(table.c.id > before[table.name]).order_by(table.c.id)
        found = [dict(r) for r in db.session.execute(query).mappings()]
        for r in found:
            # The real time of the write (tracker.reminders.sweeps), not data: the two runs differ in it.
            r.pop("changed_at", None)
        if "id" in table.c:
            for n, r in enumerate(found):
                names[(table.name, r["id"])] = f"{table.name}#{n}"
        rows[table.name] = found

    def new(table: str, value):
        return names.get((table, value), value)

    for r in rows["sources"]:
        r["id"] = new("sources", r["id"])
    for r in rows["problems"]:
        r["id"], r["source_id"] = new("problems", r["id"]), new("sources", r["source_id"])
    links = [(new("problems", r["problem_id"]), r["unit_id"]) for r in rows["problem_cooperating_units"]]
    rows["problem_cooperating_units"] = sorted(links)
    for r in rows["tasks"]:
        r["id"], r["problem_id"] = new("tasks", r["id"]), new("problems", r["problem_id"])
    for r in rows["audit_events"]:
        r.pop("id")
        r["object_id"] = new(r["object_type"], r["object_id"])
        r["task_id"], r["problem_id"] = new("tasks", r["task_id"]), new("problems", r["problem_id"])
        if r["after"] and "source_id" in r["after"]:
            r["after"]["source_id"] = new("sources", r["after"]["source_id"])
            r["after_raw"] = None  # its ids differ; the parsed value above is compared
    return rows


def _issues(report) -> tuple:
    with force_locale("en"):
        return ([(e.sheet, e.row, e.column, str(e.message)) for e in report.errors],
                [(w.sheet, w.row, w.column, str(w.message)) for w in report.warnings],
                [p.created_number for p in report.problems])


def both(data: bytes, actor, clock) -> tuple:
    """(report, rows written) of the row-by-row import and of the bulk one, each rolled back after."""
    results = []
    for run in (run_import_rowwise, run_import):
        before = _max_ids()
        with force_locale("en"):
            report = run(data, db.session.get(User, actor.id), clock)
        results.append((_issues(report), dump(before)))
        db.session.rollback()
    return results


SINGLE = ("序号 问题编号 问题来源 问题类别 问题描述 发现单位 发现日期 责任领导 牵头单位 配合单位 "
          "整改措施 整改目标 整改类型 责任单位 责任人 整改时限 阶段性销号").split()


def generated(org, n_problems: int, *, dirty: bool, seed: int = 3) -> bytes:
    """A single-sheet ledger drawn at random from the org's names: new and existing sources, given and
    automatic numbers, cooperating units, every type of measure, problems without measures; `dirty` adds
    the mistakes only the services find (a given number an automatic one took, a date found in the
    future, staff as the responsible leader, the lead unit cooperating, a measure too long)."""
    rng = random.Random(seed)
    units, people = ["第一党支部", "A1", "办公室"], ["张三", "李四", "staff_a1", "王五", "支部书记"]
    sources = ["2026年自查", "2026年巡察反馈", "2026年审计", "来源X"]
    types = [("限期整改", True), ("长期坚持", False), ("立行立改", True), ("分阶段整改", False)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(SINGLE)
    seq = 0
    for i in range(1, n_problems + 1):
        number = "" if i % 3 == 0 else f"G-{i:03d}"
        if i == 10:
            number = "2026-001" if dirty else "2026-007"  # dirty: the first automatic number took it
        found = TODAY - timedelta(days=rng.randint(0, 400))
        if dirty and i % 7 == 0:
            found = TODAY + timedelta(days=3)
        leader = rng.choice(["局长", "支部书记", ""] + (["张三"] if dirty else []))
        coop = rng.choice(["", "办公室", "A1、办公室"] + (["第一党支部"] if dirty else []))
        problem = [number, rng.choice(sources), "政治建设", f"问题{i}", rng.choice(units), found, leader,
                   "第一党支部", coop]
        for _ in range(rng.randint(0, 3)) or [None]:
            seq += 1
            kind, dated = rng.choice(types)
            deadline = TODAY + timedelta(days=rng.randint(-30, 90)) if dated else None
            period = "按月" if kind == "长期坚持" and rng.random() < 0.5 else None
            text = "长" * 5001 if dirty and seq % 11 == 0 else f"措施{seq}"
            ws.append([seq, *problem, text, rng.choice(["", "目标"]), kind, rng.choice(units[:2]),
                       rng.choice(people[:4]), deadline, period])
        if seq % 5 == 0:
            ws.append([seq, *problem])  # the problem's row without a measure (merged-cell ledgers have them)
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


def _deactivated(user):
    db.session.get(User, user.id).active = False
    db.session.commit()


CASES = {
    "three sheets": lambda org: workbook(GOOD),
    "single sheet": lambda org: real_world_ledger(),
    "generated": lambda org: generated(org, 60, dirty=False),
    "generated, with what the services refuse": lambda org: generated(org, 60, dirty=True),
}


@pytest.mark.parametrize("case", CASES)
def test_bulk_writes_what_the_services_wrote_row_by_row(org, clock, case):
    data = CASES[case](org)
    (old_issues, old_rows), (new_issues, new_rows) = both(data, org.mgr_root, clock)
    assert new_issues == old_issues
    if old_issues[0]:  # errors: the row-by-row path had written some rows before the caller's rollback
        assert all(not rows for rows in new_rows.values())
        assert case.endswith("refuse")
    else:
        assert new_rows == old_rows
        assert new_rows["tasks"] and new_rows["audit_events"] and not new_rows["notifications"]
        assert not case.endswith("refuse")


def test_a_deactivated_leader_and_scope_answer_as_the_services_do(org, clock):
    _deactivated(org.mgr_a)  # 支部书记: a responsible leader and person in the generated ledgers
    data = generated(org, 30, dirty=False, seed=5)
    (old_issues, _), (new_issues, _) = both(data, org.mgr_root, clock)
    assert new_issues == old_issues and old_issues[0]
    (old_issues, _), (new_issues, _) = both(generated(org, 30, dirty=True, seed=6), org.mgr_a_2, clock)
    assert new_issues == old_issues and old_issues[0]


def test_the_check_writes_nothing_and_finds_what_the_import_finds(org, clock):
    data = generated(org, 40, dirty=True)
    before = _max_ids()
    with force_locale("en"):
        checked_report = check_import(data, db.session.get(User, org.mgr_root.id), clock)
    assert all(not rows for rows in dump(before).values())
    (old_issues, _), _ = both(data, org.mgr_root, clock)
    assert _issues(checked_report) == old_issues


# --- jobs ------------------------------------------------------------------------------------------------


def _job(job_id: int) -> ImportJob:
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def _job_id(url: str) -> int:
    return int(url.rstrip("/").rsplit("/", 1)[1])


def test_the_progress_moves_through_the_phases(org, login_as, monkeypatch):
    written = []
    original = jobs.JobProgress._write

    def spy(self, **values):
        original(self, **values)
        row = db.engine.connect()
        with row:
            job = row.execute(sa.select(ImportJob.phase, ImportJob.done_rows, ImportJob.total)
                              .where(ImportJob.id == self.job_id)).one()
        written.append(tuple(job))

    monkeypatch.setattr(jobs, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(jobs.JobProgress, "_write", spy)
    monkeypatch.setattr("tracker.ledger.reader.PROGRESS_ROWS", 10)
    client = login_as(org.mgr_root)
    page, url = checked(client, generated(org, 90, dirty=False))
    phases = [w[0] for w in written]
    assert phases[0] == JobPhase.READING and JobPhase.CHECKING in phases and JobPhase.SAVING not in phases
    checking = [w for w in written if w[0] == JobPhase.CHECKING]
    done = [w[1] for w in checking]
    assert done == sorted(done) and done[0] == 0 and done[-1] == checking[-1][2] and len(set(done)) > 5
    reading = [w[1] for w in written if w[0] == JobPhase.READING]
    assert reading == sorted(reading) and reading[-1] > 0
    job = _job(_job_id(url))
    assert (job.state, job.total, job.done_rows) == (JobState.DONE, checking[-1][2], checking[-1][2])
    written.clear()
    response = client.post(f"{url}/confirm")
    jobs.run_pending()
    saving = [w for w in written if w[0] == JobPhase.SAVING]
    assert saving and saving[0][1] == 0
    if db.engine.dialect.name == "postgresql":  # SQLite cannot write beside the import's transaction
        assert [w[1] for w in saving][-1] == saving[-1][2]
    assert _job(_job_id(response.location)).state == JobState.DONE


def test_the_job_answers_its_owner_only(org, login_as, app):
    client = login_as(org.mgr_a)
    response = upload(client, workbook(GOOD))
    job_id = _job_id(response.location)
    status = client.get(f"/ledger/import/jobs/{job_id}").get_json()
    assert (status["state"], status["finished"], status["kind"]) == ("queued", False, "check")
    jobs.run_pending()
    status = client.get(f"/ledger/import/jobs/{job_id}").get_json()
    assert (status["state"], status["finished"]) == ("done", True)
    assert status["done"] == status["total"] > 0 and status["percent"] == 100
    assert status["url"] == f"/ledger/import/{job_id}"
    for other in ("mgr_root", "admin", "staff_a", "viewer_root"):  # a manager above, an admin, the rest
        c = app.test_client()
        c.post("/login", data={"username": other, "password": PASSWORD})
        assert c.get(f"/ledger/import/jobs/{job_id}").status_code == 404
        assert c.get(f"/ledger/import/{job_id}").status_code == 404
    assert app.test_client().get(f"/ledger/import/jobs/{job_id}").status_code == 302  # log in first


def test_the_progress_page_works_without_javascript(org, login_as):
    client = login_as(org.mgr_root)
    response = upload(client, workbook(GOOD))
    page = client.get(response.location).get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert 'id="job-progress"' in page and 'id="job-reload"' in page
    assert "ledger_import.js" in page


def _confirmed(client, data) -> int:
    _, url = checked(client, data)
    return _job_id(client.post(f"{url}/confirm").location)


def test_a_database_failure_in_the_import_leaves_nothing_and_says_why(org, login_as, monkeypatch, app):
    client = login_as(org.mgr_root)
    job_id = _confirmed(client, generated(org, 30, dirty=False))
    before = counts(), db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))

    def refuse(events):  # after the problems and measures went in: the whole transaction must go
        assert db.session.scalar(sa.select(sa.func.count(Task.id))) > 0
        raise sa.exc.OperationalError("INSERT INTO audit_events", {}, Exception("disk full"))

    monkeypatch.setattr(audit_services, "record_many", refuse)
    jobs.run_pending()
    job = _job(job_id)
    assert job.state == JobState.FAILED and "未导入任何内容" in job.error  # in its owner's language (zh_CN)
    assert (counts(), db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))) == before
    page = client.get(f"/ledger/import/{job_id}").get_data(as_text=True)
    assert "数据库拒绝了本次导入，未导入任何数据。" in page and 'id="import-errors"' in page
    assert not stored(app)


def test_an_unexpected_error_in_the_import_leaves_nothing_and_says_so(org, login_as, monkeypatch):
    client = login_as(org.mgr_root)
    job_id = _confirmed(client, workbook(GOOD))

    def broken(self, *args):
        raise RuntimeError("bug")

    monkeypatch.setattr(bulk.ProblemBatch, "_events", broken)
    jobs.run_pending()
    job = _job(job_id)
    assert job.state == JobState.FAILED and counts() == (0, 0, 0)
    with force_locale("en"):
        assert job.error
    assert job.error in client.get(f"/ledger/import/{job_id}").get_data(as_text=True)


class WorkerDied(BaseException):
    """What a killed process looks like from inside: nothing after this point runs."""


def _age(job_id: int, seconds: int) -> None:
    db.session.execute(sa.update(ImportJob).where(ImportJob.id == job_id)
                       .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def test_an_import_whose_worker_died_is_run_again_and_done_once(org, login_as, monkeypatch, app):
    client = login_as(org.mgr_root)
    job_id = _confirmed(client, generated(org, 30, dirty=False))
    insert = bulk.ProblemBatch.insert

    def die(self, progress=None):
        insert(self, progress)
        raise WorkerDied()  # every row written, nothing committed

    monkeypatch.setattr(bulk.ProblemBatch, "insert", die)
    with pytest.raises(WorkerDied):
        jobs.run_pending()
    monkeypatch.setattr(bulk.ProblemBatch, "insert", insert)
    assert counts() == (0, 0, 0)
    assert _job(job_id).state == JobState.RUNNING  # as the dead worker left it
    assert not jobs.run_pending()  # its heartbeat is fresh: nobody takes it yet
    _age(job_id, 120)
    assert jobs.run_pending() == [job_id]
    job = _job(job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 2)
    made = counts()
    assert made[1] > 0 and db.session.scalar(sa.select(sa.func.count(sa.distinct(Problem.number)))) == made[0]
    assert f"{made[0]}" in client.get(f"/ledger/import/{job_id}").get_data(as_text=True)
    assert not stored(app)


def _english(user, clock):
    org_services.set_preferences(db.session.get(User, user.id), clock, language="en")
    db.session.commit()


def test_a_job_that_stopped_too_often_fails_clearly(org, login_as, app, clock):
    _english(org.mgr_root, clock)
    client = login_as(org.mgr_root)
    job_id = _confirmed(client, workbook(GOOD))
    db.session.execute(sa.update(ImportJob).where(ImportJob.id == job_id).values(
        state=JobState.RUNNING, worker="gone:1:x", attempts=2, heartbeat_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    status = client.get(f"/ledger/import/jobs/{job_id}").get_json()  # the poll sweeps a stopped job
    assert status["state"] == "failed" and status["finished"]
    assert not jobs.run_pending()
    page = client.get(f"/ledger/import/{job_id}").get_data(as_text=True)
    assert "The import stopped 2 times" in page and 'id="job-error"' in page
    assert counts() == (0, 0, 0) and not stored(app)


def test_a_worker_that_lost_its_job_rolls_back(org, login_as, monkeypatch):
    """Frozen past the stale limit, swept, taken by another worker: the first must not import too."""
    client = login_as(org.mgr_root)
    job_id = _confirmed(client, workbook(GOOD))
    insert = bulk.ProblemBatch.insert

    def taken_meanwhile(self, progress=None):
        with db.engine.begin() as conn:
            conn.execute(sa.update(ImportJob).where(ImportJob.id == job_id).values(worker="other:2:y"))
        return insert(self, progress)

    monkeypatch.setattr(bulk.ProblemBatch, "insert", taken_meanwhile)
    assert jobs.run_pending() == [job_id]
    assert counts() == (0, 0, 0)
    job = _job(job_id)
    assert (job.state, job.worker) == (JobState.RUNNING, "other:2:y")


def test_two_workers_never_claim_the_same_job(org, login_as):
    client = login_as(org.mgr_root)
    upload(client, workbook(GOOD))
    first, second = jobs.claim("w:1:a"), jobs.claim("w:2:b")
    assert first is not None and second is None
    assert _job(first).worker == "w:1:a" and _job(first).attempts == 1


def test_a_check_is_run_again_after_a_restart(org, login_as):
    client = login_as(org.mgr_root)
    response = upload(client, workbook(GOOD))
    job_id = jobs.claim("dead:1:z")  # claimed by a process that then died
    _age(job_id, 120)
    assert jobs.run_pending() == [job_id]
    page = client.get(response.location).get_data(as_text=True)
    assert 'id="confirm-import"' in page


def test_uploads_wait_their_turn(org, login_as, app):
    client = login_as(org.mgr_root)
    for _ in range(3):
        assert upload(client, workbook(GOOD)).status_code == 303
    response = upload(client, workbook(GOOD))
    assert response.status_code == 422 and 'data-error-for="file"' in response.get_data(as_text=True)
    assert len(stored(app)) == 3
    assert len(jobs.run_pending()) == 3
    assert upload(client, workbook(GOOD)).status_code == 303


def test_the_cli_still_imports_at_once(org, runner, tmp_path):
    path = tmp_path / "ledger.xlsx"
    path.write_bytes(generated(org, 20, dirty=False))
    result = runner.invoke(args=["import-ledger", str(path), "--dry-run", "--lang", "en"])
    assert result.exit_code == 0 and "Dry run: nothing was written." in result.output
    assert counts() == (0, 0, 0)
    result = runner.invoke(args=["import-ledger", str(path), "--lang", "en"])
    assert result.exit_code == 0 and "Imported." in result.output, result.output
    assert counts()[1] > 0
    assert not db.session.scalar(sa.select(sa.func.count(ImportJob.id)))


def test_the_heartbeat_beats_while_a_long_job_runs(org, login_as, app, monkeypatch):
    """Reading a large workbook gives no progress for a while: the heartbeat thread still tells the sweep
    that the worker is alive."""
    app.config["LEDGER_JOB_HEARTBEAT_SECONDS"] = 0.05
    beats = []
    write = jobs.JobProgress._write

    def spy(self, **values):
        if not values:
            beats.append(threading.current_thread().name)
        write(self, **values)

    monkeypatch.setattr(jobs.JobProgress, "_write", spy)
    resolve = Resolver.resolve

    def slow_resolve(self, step=None):
        time.sleep(0.6)
        resolve(self, step)

    monkeypatch.setattr(Resolver, "resolve", slow_resolve)
    client = login_as(org.mgr_root)
    page, _ = checked(client, workbook(GOOD))
    assert len(beats) >= 5 and all(name.endswith("-heartbeat") for name in beats)
    assert 'id="confirm-import"' in page.get_data(as_text=True)


def test_a_busy_database_only_delays_the_progress_bar(org, login_as, monkeypatch):
    write = jobs.JobProgress._write

    def busy(self, **values):
        if "done_rows" in values:
            raise sa.exc.OperationalError("UPDATE ledger_import_jobs", {}, Exception("database is locked"))
        write(self, **values)

    monkeypatch.setattr(jobs.JobProgress, "_write", busy)
    client = login_as(org.mgr_root)
    job_id = _confirmed(client, workbook(GOOD))
    jobs.run_pending()
    assert _job(job_id).state == JobState.DONE and counts() == (2, 3, 1)
