"""How list pages grow with the table: the same pages at 20k, 200k and 1M measures, side by side.

    python -m benchmarks.scale [--backend sqlite|postgresql ...] [--sizes 20000,200000,1000000]
                               [--requests 30] [--keep]

Each size gets its own database (bench_scale_<n>: a PostgreSQL database, or a SQLite file under
benchmarks/results/), generated once with the comparison shape of benchmarks/README.md scaled to n
measures (200 people in one unit, deadlines today ± 60 days, 40 % closed) and reused while it is
there (upgraded to the code's migrations first, and vacuumed on PostgreSQL). The pages are requested
in-process through the test client (no HTTP, no other process), each
`--requests` times after three warm-up requests; the median is printed, and the ratio to the
smallest size. The API's deep page is asked for both ways: `page=50`, and the cursor the 49 pages
before it handed on (untimed walk). `make bench` runs it with BENCH_SCALE=1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.generate import (
    RESULTS,
    app_env,
    generate,
    migrate,
    postgres_problem,
    postgres_url,
    sqlite_url,
)
from benchmarks.workload import BENCH_PASSWORD, MANAGER, STAFF, Shape

API = "/api/v1/tasks?overdue=true&per_page=50"
# (title, user, path); "cursor" pages are the API's page 50 asked for by cursor.
PAGES = [
    ("整改清单 overdue, page 1", MANAGER, "/tasks?overdue=1"),
    ("整改清单 overdue, page 50", MANAGER, "/tasks?overdue=1&page=50"),
    ("整改清单 all (default order), page 1", MANAGER, "/tasks"),
    ("整改清单 all (default order), page 50", MANAGER, "/tasks?page=50"),
    ("整改清单 by state, page 1", MANAGER, "/tasks?sort=state"),
    ("整改清单 by state, page 50", MANAGER, "/tasks?sort=state&page=50"),
    ("问题清单, page 1", MANAGER, "/problems"),
    ("问题清单, page 50", MANAGER, "/problems?page=50"),
    ("我的任务 (staff)", STAFF, "/"),
    ("API list overdue, page 1", MANAGER, API),
    ("API list overdue, page 50", MANAGER, API + "&page=50"),
    ("API list overdue, page 50 by cursor", MANAGER, "cursor"),
]


def shape(tasks: int) -> Shape:
    return Shape(tasks=tasks, users=200, one_unit=True, deadline_spread=60, closed_share=0.4)


def database(backend: str, tasks: int) -> str:
    name = f"bench_scale_{tasks}"
    return postgres_url(name) if backend == "postgresql" else sqlite_url(name)


def _exists(url: str, tasks: int) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM tasks")) == tasks
    except Exception:  # no database, no table: generate it
        return False
    finally:
        engine.dispose()


def _ensure(backend: str, tasks: int) -> tuple[str, float | None]:
    """The size's database, generated unless it is there; the generation's seconds (None: reused)."""
    url = database(backend, tasks)
    if _exists(url, tasks):
        _tidy(url)
        return url, None
    started = time.perf_counter()
    generate(url, shape(tasks).resolved(), echo=lambda *a: print("   ", *a, flush=True))
    return url, time.perf_counter() - started


def _tidy(url: str) -> None:
    """A reused database brought to the code's schema (`flask db upgrade`: a later migration's indexes
    change the plans) and, on PostgreSQL, vacuumed: a reminders job inserts and deletes millions of
    rows, and the lists read 1.3-1.5x slower until autovacuum has been by."""
    import sqlalchemy as sa

    migrate(url)
    if url.startswith("postgresql"):
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        finally:
            engine.dispose()


def _app(url: str):
    os.environ["TRACKER_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="scale-")
    from tracker import create_app

    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False,
                       "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "LOG_LEVEL": "WARNING"})


def _token(app, username: str) -> str:
    from benchmarks.instructions import _token as token

    return token(app, username)


def measure(url: str, requests: int) -> dict[str, float]:
    """Median seconds per page."""
    app = _app(url)
    clients = {}
    for user in (MANAGER, STAFF):
        client = app.test_client()
        if client.post("/login", data={"username": user, "password": BENCH_PASSWORD}).status_code != 302:
            raise SystemExit(f"cannot log in as {user}")
        clients[user] = client
    headers = {"Authorization": f"Bearer {_token(app, MANAGER)}"}
    api = app.test_client()
    cursor = None
    for _ in range(49):  # the cursor of page 50, walked to once
        answer = api.get(API + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        cursor = answer.get_json().get("next_cursor")
        if cursor is None:  # code without cursors (measuring an older commit)
            break
    medians = {}
    for title, user, path in PAGES:
        if path == "cursor" and cursor is None:
            medians[title] = float("nan")
            continue
        if path == "cursor":
            client, path, kw = api, API + f"&cursor={cursor}", {"headers": headers}
        elif path.startswith("/api/"):
            client, kw = api, {"headers": headers}
        else:
            client, kw = clients[user], {}
        for _ in range(3):
            answer = client.get(path, **kw)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: HTTP {answer.status_code}")
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get(path, **kw).get_data()
            times.append(time.perf_counter() - started)
        medians[title] = statistics.median(times)
    from tracker.extensions import db

    with app.app_context():
        db.engine.dispose()
    return medians


def _captured(app, client, path, kw) -> list[tuple[float, str, object]]:
    """The statements one request of `path` runs: (seconds, SQL, DBAPI parameters)."""
    import sqlalchemy as sa

    from tracker.extensions import db

    found = []
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, parameters, context, many):
        conn.info["plan_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, many):
        if not many:
            found.append((time.perf_counter() - conn.info.pop("plan_started"), statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(path, **kw).get_data()
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
    return found


def _explain(app, statement: str, parameters) -> list[str]:
    """The plan of one statement as the database runs it: EXPLAIN ANALYZE on PostgreSQL (executed,
    with buffers), EXPLAIN QUERY PLAN on SQLite."""
    from tracker.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if db.engine.dialect.name == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                lines = [r[0] for r in cursor.fetchall()]
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                lines = [f"{r[1]:>3} {r[3]}" for r in cursor.fetchall()]
            raw.rollback()
        finally:
            raw.close()
    return lines


# A plan that reads a whole big table: worth a look whenever a page's figure grows with N.
FULL_SCANS = ("Seq Scan on tasks", "Seq Scan on problems", "SCAN tasks", "SCAN problems")


def _full_scan(line: str) -> bool:
    """A plan line reading a big table whole (SQLite's "SCAN t USING INDEX i" walks an index)."""
    return any(f in line for f in FULL_SCANS) and "USING" not in line


def plans(url: str) -> str:
    """Per list page, the plan of its slowest statement, with full scans of the big tables flagged."""
    app = _app(url)
    clients = {}
    for user in (MANAGER, STAFF):
        client = app.test_client()
        client.post("/login", data={"username": user, "password": BENCH_PASSWORD})
        clients[user] = client
    headers = {"Authorization": f"Bearer {_token(app, MANAGER)}"}
    out = []
    for title, user, path in PAGES:
        if path == "cursor":
            continue
        api = path.startswith("/api/")
        client, kw = (app.test_client(), {"headers": headers}) if api else (clients[user], {})
        client.get(path, **kw)  # warm
        captured = sorted(_captured(app, client, path, kw), key=lambda c: -c[0])
        total = sum(c[0] for c in captured)
        out += [f"#### {title}: {len(captured)} statements, {total * 1000:.1f} ms; the two slowest", ""]
        for seconds, statement, parameters in captured[:2]:
            lines = _explain(app, statement, parameters)
            flag = " ⚠ full scan" if any(_full_scan(line) for line in lines) else ""
            out += [f"{seconds * 1000:.1f} ms{flag}", "", "```", " ".join(statement.split())[:300] + " …", "",
                    *(line[:200] for line in lines[:30]), "```", ""]
    from tracker.extensions import db

    with app.app_context():
        db.engine.dispose()
    return "\n".join(out)


def measure_jobs(url: str, requests: int) -> dict[str, tuple[float, float, str]]:
    """Jobs whose work grows with the table by nature: (seconds, units of work, what a unit is)."""
    app = _app(url)
    found = {}
    from tracker.clock import current_clock
    from tracker.extensions import db
    from tracker.reminders import services as reminders

    with app.app_context():
        reminders.run_once(current_clock(), dry_run=True)  # warm
        started = time.perf_counter()
        result = reminders.run_once(current_clock(), dry_run=True)
        found["reminders' pass (dry run)"] = (time.perf_counter() - started, result.count, "messages")
        db.engine.dispose()
    client = app.test_client()
    client.post("/login", data={"username": MANAGER, "password": BENCH_PASSWORD})
    # Counted every time (snapshots off), then served from the snapshot the first view keeps.
    for title, lifetime in (("counted", 0), ("kept", app.config["DASHBOARD_CACHE_SECONDS"])):
        app.config["DASHBOARD_CACHE_SECONDS"] = lifetime
        for _ in range(3):
            client.get("/dashboard")
        times = []
        for _ in range(max(requests // 3, 5)):
            started = time.perf_counter()
            client.get("/dashboard").get_data()
            times.append(time.perf_counter() - started)
        found[f"dashboard, root unit, {title} (median)"] = (statistics.median(times), 1, "page")
    out = RESULTS / "scale-export.xlsx"
    done = subprocess.run([sys.executable, "-m", "benchmarks.jobs", "export", "--out", str(out)],
                          env=app_env(url), capture_output=True, text=True, timeout=3600)
    line = next((x for x in reversed(done.stdout.splitlines()) if x.startswith("RESULT ")), None)
    if line:
        r = json.loads(line[len("RESULT "):])
        found["ledger export, every measure"] = (r["seconds"], r["measures"], "measures")
        found["ledger export: memory growth (MB)"] = (r["peak_mb"] - r["base_mb"], r["measures"], "measures")
    out.unlink(missing_ok=True)
    return found


def jobs_table(backend: str, sizes: list[int], results: dict[int, dict]) -> str:
    head = " | ".join(f"{n:,}" for n in sizes)
    lines = [f"### {backend}: jobs (seconds, or MB where said; the work in brackets)", "",
             f"| job | {head} | ratio {sizes[-1]:,} / {sizes[0]:,} | ratio per unit of work |",
             "|---|" + "---:|" * (len(sizes) + 2)]
    for title in results[sizes[0]]:
        rows = (results[n][title] for n in sizes)
        cells = [f"{seconds:.2f} ({work:,} {unit})" for seconds, work, unit in rows]
        first, last = results[sizes[0]][title], results[sizes[-1]][title]
        ratio = last[0] / first[0] if first[0] else float("nan")
        per_unit = ratio / (last[1] / first[1]) if first[1] and last[1] else float("nan")
        lines.append(f"| {title} | {' | '.join(cells)} | {ratio:.2f}× | {per_unit:.2f}× |")
    return "\n".join(lines) + "\n"


def table(backend: str, sizes: list[int], results: dict[int, dict[str, float]], made: dict) -> str:
    head = " | ".join(f"{n:,}" for n in sizes)
    lines = [f"### {backend}: median ms per request, in-process", "",
             f"| page | {head} | ratio {sizes[-1]:,} / {sizes[0]:,} |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for title, _user, _path in PAGES:
        cells = [f"{results[n][title] * 1000:.1f}" for n in sizes]
        ratio = results[sizes[-1]][title] / results[sizes[0]][title]
        flag = " ⚠" if ratio > 1.3 else ""
        lines.append(f"| {title} | {' | '.join(cells)} | {ratio:.2f}×{flag} |")
    generated = ", ".join(f"{n:,}: {s:.0f} s" for n, s in made.items() if s is not None)
    if generated:
        lines += ["", f"Generated in this run: {generated}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    p.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    p.add_argument("--sizes", default=os.environ.get("BENCH_SCALE_SIZES") or "20000,200000,1000000")
    p.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS") or 30))
    p.add_argument("--jobs", action="store_true", help="also the jobs: reminders' pass, dashboard, export")
    p.add_argument("--plans", action="store_true",
                   help="also each page's slowest statement's plan at the largest size")
    args = p.parse_args(argv)
    sizes = sorted(int(n) for n in args.sizes.split(","))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = []
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and postgres_problem():
            out.append(f"### {backend}\n\nnot reachable: {postgres_problem()}\n")
            continue
        results, made, jobs = {}, {}, {}
        for n in sizes:
            print(f"== {backend}, {n:,} measures", flush=True)
            url, made[n] = _ensure(backend, n)
            results[n] = measure(url, args.requests)
            if args.jobs:
                jobs[n] = measure_jobs(url, args.requests)
        out.append(table(backend, sizes, results, made))
        if args.jobs:
            out.append(jobs_table(backend, sizes, jobs))
        if args.plans:
            head = f"### {backend}: plans at {sizes[-1]:,} measures\n\n"
            out.append(head + plans(database(backend, sizes[-1])))
        print("\n".join(out[-2:] if args.jobs else out[-1:]), flush=True)
    text = "\n".join(out)
    target = RESULTS / f"scale-{time.strftime('%Y%m%d-%H%M%S')}.md"
    target.write_text(text)
    print(text)
    print(f"written to {target}")


if __name__ == "__main__":
    main()
