"""The heavy jobs, each in its own process so its peak memory is its own:

    python -m benchmarks.jobs digest --smtp-port P     weekly digest for everybody → SMTP at 127.0.0.1:P
    python -m benchmarks.jobs reminders                the reminders' pass, queued but not sent (twice)
    python -m benchmarks.jobs export --out FILE        ledger workbook of every measure
    python -m benchmarks.jobs import --rows N          check, then import, a ledger of N measures (as jobs)
    python -m benchmarks.jobs report --items N         rectification section DOCX with ~N closed items

The database is DATABASE_URL. The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import sqlalchemy as sa
from flask_babel import force_locale

from tracker import create_app
from tracker.clock import Clock, current_clock
from tracker.enums import OPEN_STATES, Role, TaskState
from tracker.extensions import db
from tracker.ledger import jobs as ledger_jobs
from tracker.ledger.export import build_ledger_xlsx
from tracker.ledger.models import ImportJob, JobState
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem
from tracker.reminders import digest as digest_rule
from tracker.reminders import outbox
from tracker.reminders import services as reminder_services
from tracker.reminders.models import Notification, ReminderSweep
from tracker.reports import section as wording
from tracker.reports.document import build_docx
from tracker.reports.services import rectification_figures
from tracker.storage import storage
from tracker.tasks.models import Task


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Resident memory now (MB)."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """Highest resident memory of this process so far (MB): VmHWM, not getrusage's ru_maxrss, which
    Linux carries across exec, so a job started by a runner of 280 MB reported the runner's peak."""
    return _status_mb("VmHWM")


def digest(app, args) -> dict:
    """The weekly digest as the pass runs it: build and queue in batches (each committed), then send."""
    clock = current_clock()
    items = db.session.scalar(
        sa.select(sa.func.count(Task.id)).join(User, User.id == Task.owner_id)
        .where(Task.state.in_(OPEN_STATES), User.active.is_(True), User.weekly_digest.is_(True)))
    base = rss_mb()
    started = time.perf_counter()
    messages = size = 0
    for batch in digest_rule.digest(clock):
        messages += len(batch)
        size += sum(len(r["body_html"]) + len(r["body_text"]) for r in batch)
        outbox.enqueue(batch)
        db.session.commit()
    queued = time.perf_counter()
    flushed = outbox.flush(clock)
    done = time.perf_counter()
    return dict(messages=messages, sent=len(flushed.sent), failed=len(flushed.failed),
                retried=len(flushed.retried), items=items, queue=queued - started,
                send=done - queued, total=done - started,
                body_kb=size / max(messages, 1) / 1024,
                base_mb=base, peak_mb=peak_mb())


def reminders(app, args) -> dict:
    """The reminders' pass as the scheduler runs it, without sending: a first pass (every rule due,
    nothing queued before), the next pass five minutes later (nothing changed: what an idle pass costs),
    then the next morning's pass. What they queue is deleted afterwards, so
    the database stays as generated."""
    clock = current_clock()
    last = db.session.scalar(sa.select(sa.func.max(Notification.id))) or 0
    overdue = db.session.scalar(sa.select(sa.func.count(Task.id)).where(Task.overdue_clause(clock.today())))
    base = rss_mb()
    found = dict(overdue=overdue, base_mb=base)
    try:
        tomorrow = Clock(clock.tz.key, clock.now() + timedelta(days=1))
        later = Clock(clock.tz.key, clock.now() + timedelta(minutes=5))  # the scheduler's next pass
        for name, when in (("first", clock), ("same_day", later), ("next_day", tomorrow)):
            started, cpu = time.perf_counter(), time.process_time()
            result = reminder_services.queue_pass(when, with_digest=False)
            found[name] = dict(seconds=time.perf_counter() - started, cpu=time.process_time() - cpu,
                               messages=result.count, peak_mb=peak_mb())
    finally:
        db.session.rollback()
        db.session.execute(sa.delete(Notification).where(Notification.id > last))
        db.session.execute(sa.delete(ReminderSweep))
        db.session.commit()
    return found


def export(app, args) -> dict:
    """Every problem and measure to one workbook on disk (streamed, write-only)."""
    measures = db.session.scalar(sa.select(sa.func.count(Task.id)))
    base = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    with open(args.out, "wb") as stream:
        build_ledger_xlsx(None, current_clock(), stream)
    took = time.perf_counter() - started
    return dict(measures=measures, seconds=took, cpu=time.process_time() - cpu,
                mb=Path(args.out).stat().st_size / 2**20, base_mb=base, peak_mb=peak_mb())


def ledger_rows(n: int, seed: int = 7) -> bytes:
    """A three-sheet ledger of `n` measures over n/3 new problems, naming people and units that exist."""
    rng = random.Random(seed)
    today = current_clock().today()
    units = {u.id: u.code for u in db.session.scalars(sa.select(Unit))}
    people: dict[int, list[str]] = {}
    leaders: list[str] = []
    for user in db.session.scalars(sa.select(User).where(User.role.in_((Role.MANAGER, Role.STAFF)))):
        people.setdefault(user.unit_id, []).append(user.username)
        if user.role == Role.MANAGER:
            leaders.append(user.username)
    usable = sorted(u for u in people if u in units)
    categories = list(db.session.scalars(sa.select(Category.name).order_by(Category.sort_order)))
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    sheets = {  # the import template's sheets and headers (ledger/export.py TEMPLATE_COLUMNS)
        "问题清单": "序号 问题编号 问题来源 来源类型 问题类别 问题描述 发现单位 发现日期".split(),
        "责任清单": "序号 问题编号 问题描述 责任领导 牵头单位 配合单位 责任人".split(),
        "整改清单": "序号 问题编号 整改措施 整改目标 整改类型 责任单位 责任人 整改时限".split(),
    }
    ws = {title: wb.create_sheet(title) for title in sheets}
    for title, header in sheets.items():
        ws[title].append(header)
    problems = max(1, n // 3)
    for i in range(1, problems + 1):
        unit = rng.choice(usable)
        number = f"IMP-{i:05d}"
        text = f"基准导入问题{i}：制度执行不严格，台账记录不规范。"
        source = f"{today.year}年基准导入巡察反馈问题（第{i % 5 + 1}批）"
        ws["问题清单"].append([i, number, source, "巡察反馈", rng.choice(categories), text, units[unit],
                              today - timedelta(days=rng.randint(1, 300))])
        ws["责任清单"].append([i, number, text, rng.choice(leaders), units[unit], "",
                              rng.choice(people[unit])])
    for j in range(1, n + 1):
        i = min(problems, (j - 1) // 3 + 1)
        unit = rng.choice(usable)
        ws["整改清单"].append([j, f"IMP-{i:05d}", f"整改措施{j}：完善制度，逐项整改。", "按期整改到位",
                              "限期整改", units[unit], rng.choice(people[unit]),
                              today + timedelta(days=rng.randint(10, 200))])
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


def import_ledger(app, args) -> dict:
    """The ledger import as the pages run it: the upload's check job (what the preview waits for), then
    the import job, each through `jobs.run_pending` as a worker thread runs them; the rows/s of each."""
    data = ledger_rows(args.rows)
    app.config.update(LEDGER_IMPORT_MAX_BYTES=64 * 2**20, LEDGER_IMPORT_MAX_ROWS=args.rows + 100,
                      LEDGER_IMPORT_MAX_CELLS=max(300_000, 20 * args.rows))
    actor = db.session.scalar(sa.select(User).where(User.username == "bench_admin"))
    before = db.session.scalar(sa.select(sa.func.count(Task.id)))
    stored_name = f"bench-{int(time.time())}.xlsx"
    storage().put_bytes(ledger_jobs.AREA, stored_name, data)
    base = rss_mb()
    check = ledger_jobs.start_check(actor, stored_name=stored_name, filename="bench.xlsx", language="zh_CN")
    db.session.commit()
    timings = dict(zip(("check", "check_cpu"), _run_job(check.id), strict=True))
    check = db.session.get(ImportJob, check.id)
    if check.state != JobState.DONE or check.report.get("errors"):
        errors = (check.report or {}).get("errors", [])[:5] or [check.error]
        raise SystemExit(f"the check refused the generated ledger: {errors}")
    job = ledger_jobs.start_import(check, db.session.get(User, actor.id))
    db.session.commit()
    timings.update(zip(("import", "import_cpu"), _run_job(job.id), strict=True))
    job = db.session.get(ImportJob, job.id)
    if job.state != JobState.DONE:
        raise SystemExit(f"the import failed: {job.error}")
    added = db.session.scalar(sa.select(sa.func.count(Task.id))) - before
    return dict(rows=args.rows, imported=added, kb=len(data) / 1024, base_mb=base, peak_mb=peak_mb(),
                **timings)


def _run_job(job_id: int) -> tuple[float, float]:
    """Seconds and this process's CPU seconds to run the queued job `job_id` to its end, as a worker would."""
    started, cpu = time.perf_counter(), time.process_time()
    ran = ledger_jobs.run_pending(limit=1)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert ran == [job_id], ran
    db.session.expire_all()
    return took, cpu


def report_period(target: int) -> date:
    """The latest start date whose report (until today) holds at least `target` closed items."""
    today = current_clock().today()
    rows = db.session.execute(
        sa.select(Problem.found_on, Task.closed_on).join(Problem, Problem.id == Task.problem_id)
        .where(Task.state == TaskState.CLOSED)).all()
    start = today
    while start > today - timedelta(days=366 * 6):
        start -= timedelta(days=30)
        if sum(1 for found, closed in rows if found >= start and closed >= start) >= target:
            break
    return start


def report(app, args) -> dict:
    """Figures, wording and the DOCX of the rectification section for the root unit's subtree."""
    root = db.session.scalar(sa.select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    clock = current_clock()
    start = report_period(args.items)
    base = rss_mb()
    with app.test_request_context(), force_locale("zh_CN"):
        t0, cpu = time.perf_counter(), time.process_time()
        figures = rectification_figures(None, root, start, clock.today(), clock)
        t1 = time.perf_counter()
        section = wording.render_section(figures, "zh_CN")
        t2 = time.perf_counter()
        data = build_docx(section)
        t3 = time.perf_counter()
        cpu = time.process_time() - cpu
    return dict(items=len(figures.closed_items), open_items=len(figures.open_items), since=start.isoformat(),
                figures=t1 - t0, wording=t2 - t1, docx=t3 - t2, total=t3 - t0, cpu=cpu, kb=len(data) / 1024,
                paragraphs=len(section.blocks), base_mb=base, peak_mb=peak_mb())


JOBS = {"digest": digest, "reminders": reminders, "export": export, "import": import_ledger, "report": report}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.jobs")
    p.add_argument("job", choices=sorted(JOBS))
    p.add_argument("--out", default="ledger.xlsx")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--items", type=int, default=10_000)
    args = p.parse_args(argv)
    app = create_app()  # DATABASE_URL, MAIL_* … from the environment the runner sets
    with app.app_context():
        result = JOBS[args.job](app, args)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
