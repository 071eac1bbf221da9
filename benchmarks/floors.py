"""The bare-SQL floor of each list page, and where a page's time goes.

Floor: the list's own data queries (count + page, plus the per-row counts a list shows) are built
by the app's query functions exactly as the view builds them, run once through the ORM to capture
the SQL text and parameters the driver receives, then replayed with SQLAlchemy Core
(`Connection.exec_driver_sql`, rows fetched, no ORM objects, no template). What the page costs
beyond that (session, filter bar, ORM, template, HTTP) is the page/floor ratio.

Profile: the same pages requested in-process (Flask test client, no HTTP) with every statement
timed, to split a page's time into SQL and Python and to name its slowest statements.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field

import sqlalchemy as sa

from tracker import create_app
from tracker.clock import current_clock
from tracker.extensions import db
from tracker.org.models import User
from tracker.problems.queries import ProblemFilters, problem_list_page, task_counts
from tracker.tasks import queries as task_queries
from tracker.tasks.models import Task
from tracker.tasks.views import HOME_LIMIT


def make_app(url: str):
    """The app on `url`, configured like the gunicorn one but with CSRF off for the in-process client."""
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False,
                       "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})


def app_engine(app):
    """A new engine configured as the app's (on PostgreSQL: JIT off), for the replays and plans."""
    with app.app_context():
        return sa.create_engine(db.engine.url, **app.config["SQLALCHEMY_ENGINE_OPTIONS"])


@contextmanager
def captured(engine):
    """Every (statement, parameters) the driver is given inside the block."""
    seen: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


# --- what each list page reads (as its view does) -------------------------------------------------


def overdue_tasks(actor: User, per_page: int) -> None:
    """整改清单 ?overdue=1: the count and the first page of rows, problem/owner/unit joined in."""
    task_queries.list_page(actor, current_clock(), task_queries.TaskFilters(overdue=True),
                           task_queries.parse_sort(None), page=1, per_page=per_page)


def all_tasks(actor: User, per_page: int) -> None:
    """整改清单 without filters: the count and the first page in the default order (overdue first)."""
    task_queries.list_page(actor, current_clock(), task_queries.TaskFilters(),
                           task_queries.parse_sort(None), page=1, per_page=per_page)


def api_overdue_tasks(actor: User, per_page: int) -> None:
    """API ?overdue=true: what tracker/api/base.paged runs (the count, the page's ids, those rows)."""
    stmt = task_queries.task_query(actor, current_clock(), task_queries.TaskFilters(overdue=True),
                                   task_queries.parse_sort(None), load=False)
    db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    ids = db.session.scalars(stmt.with_only_columns(Task.id).limit(per_page).offset(0)).all()
    db.session.scalars(sa.select(Task).where(Task.id.in_(ids))).all()


def problems_by_unit(unit_id: int) -> Callable[[User, int], None]:
    def run(actor: User, per_page: int) -> None:
        """问题清单 ?unit=: the count, the first page's ids and rows (with category, source and unit
        names), the measure counts."""
        clock = current_clock()
        filters = ProblemFilters(unit_id=unit_id)
        page = problem_list_page(actor, clock, filters, None, page=1, per_page=per_page)
        task_counts([p.id for p in page.items], clock.today())
    return run


def my_tasks(actor: User, per_page: int) -> None:
    """我的任务: the owner's open measures by urgency (up to HOME_LIMIT) and the counters."""
    clock = current_clock()
    task_queries.my_open_tasks(actor, clock, HOME_LIMIT)
    task_queries.my_counters(actor, clock)


@dataclass
class Floor:
    statements: list[tuple[str, object]]
    samples: list[float] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")


def capture_floor(app, username: str, reader, per_page: int = 50) -> Floor:
    """The SQL `reader` sends for `username`, captured from one ORM run."""
    with app.app_context():
        actor = db.session.scalar(sa.select(User).where(User.username == username))
        _ = actor.unit  # loaded now, so the capture holds only the list's own statements
        with captured(db.engine) as seen:
            reader(actor, per_page)
        db.session.rollback()
    return Floor(statements=list(seen))


def replay(engine, floor: Floor, *, count: int = 50, warmup: int = 5, max_seconds: float = 60) -> Floor:
    """Run the captured statements `count` times with Core, fetching every row; one sample per round."""
    deadline = time.monotonic() + max_seconds
    with engine.connect() as conn:
        for i in range(warmup + count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            for statement, params in floor.statements:
                conn.exec_driver_sql(statement, params or None).fetchall()
            took = time.perf_counter() - started
            if i >= warmup:
                floor.samples.append(took)
        conn.rollback()
    return floor


def explain(engine, statement: str, params) -> str:
    """The plan: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params or None).all()
            text = "\n".join(r[0] for r in rows)
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params or None).all()
            depth: dict[int, int] = {0: 0}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                lines.append("  " * (depth[node] - 1) + detail)
            text = "\n".join(lines)
        conn.rollback()
    return text


# --- where a page's time goes ------------------------------------------------------------------------


@dataclass
class Profile:
    path: str
    wall: float = 0.0  # seconds per request, in-process
    sql: float = 0.0  # seconds of SQL per request
    statements: float = 0.0  # statements per request
    slowest: list[tuple[float, str, object]] = field(default_factory=list)  # (seconds/request, sql, params)
    python: dict[str, float] = field(default_factory=dict)  # own CPU seconds per request, by package
    hot: list[tuple[float, str]] = field(default_factory=list)  # (own seconds/request, function)


def _package(filename: str) -> str:
    """Which library (or the app, or a template) a profiled function belongs to."""
    if filename == "~":
        return "builtins"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.endswith(".html") or "/templates/" in filename:
        return "templates"
    if "/tracker/" in filename:
        return "tracker"
    return "python" if filename.startswith(("/usr", "<")) or "/lib/python" in filename else filename


def python_time(client, path: str, count: int) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """cProfile of `count` requests: own time by package, and the hottest functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        client.get(path)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    by_package: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.items():
        key = _package(filename)
        by_package[key] = by_package.get(key, 0.0) + own / count
    hot = sorted(((own / count, f"{_package(f)}:{name} ({f.rsplit('/', 1)[-1]}:{line})")
                  for (f, line, name), (_cc, _nc, own, _cum, _callers) in stats.items()), reverse=True)[:8]
    top = dict(sorted(by_package.items(), key=lambda kv: -kv[1])[:8])
    return top, hot


@contextmanager
def statement_clock(engine):
    """Seconds per distinct statement text, with one example of its parameters."""
    spent: dict[str, list] = {}
    starts: list[float] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        starts.append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - starts.pop()
        entry = spent.setdefault(statement, [0.0, 0, parameters])
        entry[0] += took
        entry[1] += 1

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


def profile(app, username: str, password: str, paths: list[str], *, count: int = 10) -> list[Profile]:
    """Each path requested `count` times in-process after one warm-up, SQL timed per statement."""
    # The app's access log still formats every line (a cost gunicorn pays too), into nowhere.
    with redirect_stderr(io.StringIO()):
        return _profile(app, username, password, paths, count)


def _profile(app, username: str, password: str, paths: list[str], count: int) -> list[Profile]:
    client = app.test_client()
    answer = client.post("/login", data={"username": username, "password": password})
    if answer.status_code != 302:
        raise RuntimeError(f"in-process login as {username} failed ({answer.status_code})")
    with app.app_context():
        engine = db.engine
    found = []
    for path in paths:
        client.get(path)
        with statement_clock(engine) as spent:
            started = time.perf_counter()
            for _ in range(count):
                if client.get(path).status_code != 200:
                    raise RuntimeError(f"in-process GET {path} failed")
            wall = (time.perf_counter() - started) / count
        top = sorted(spent.items(), key=lambda kv: -kv[1][0])[:3]
        python, hot = python_time(client, path, max(3, count // 3))
        found.append(Profile(
            path=path, wall=wall, sql=sum(v[0] for v in spent.values()) / count,
            statements=sum(v[1] for v in spent.values()) / count,
            slowest=[(v[0] / count, sql_text, v[2]) for sql_text, v in top], python=python, hot=hot))
    return found
