"""Generate a benchmark database fast: a fresh schema by `flask db upgrade`, then bulk inserts.

    python -m benchmarks.generate [--tasks N] [--problems N] [--users N] [--units N]
        [--closed-share F] [--deadline-spread DAYS] [--one-unit] [--seed N] [--audit]
        [--backend sqlite|postgresql | --url URL]

Rows come from benchmarks.workload; they go in with PostgreSQL's COPY (psycopg `cursor.copy`) or,
on SQLite, SQLAlchemy Core `insert()` with lists of dicts in chunks, all in one transaction.
The database is dropped and created first, so only databases the benchmark owns are accepted:
PostgreSQL databases named bench*, SQLite files under benchmarks/results/ (or --force).
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from benchmarks.workload import BENCH_PASSWORD, Dataset, Shape, build
from tracker.clock import Clock
from tracker.extensions import db

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
CHUNK = 5000


# --- where ------------------------------------------------------------------------------------------


def postgres_url(name: str = "bench") -> str:
    """A database `name` on BENCH_POSTGRES_URL's server (default: the local PostgreSQL as postgres)."""
    server = sa.make_url(os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_PG_SERVER)
    return server.set(database=name).render_as_string(hide_password=False)


def sqlite_url(name: str = "bench") -> str:
    return f"sqlite:///{RESULTS / f'{name}.sqlite3'}"


def postgres_problem(url: str | None = None) -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    admin = sa.make_url(url or postgres_url()).set(database="postgres")
    engine = sa.create_engine(admin, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", and why
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def app_env(url: str, **extra: str) -> dict:
    """Environment for `flask`/gunicorn subprocesses: this database, the benchmark's own instance folder."""
    instance = RESULTS / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    config = instance / "config.py"
    if not config.exists():
        # The benchmark measures what the app costs, not a rate limiter's refusals.
        config.write_text("RATELIMIT_ENABLED = False\n")
    env = dict(os.environ, DATABASE_URL=url, TRACKER_INSTANCE_PATH=str(instance), SCHEDULER_ENABLED="0",
               SECRET_KEY=os.environ.get("BENCH_SECRET_KEY", "bench-secret-key"), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


# --- a fresh database ---------------------------------------------------------------------------------


def fresh_database(url: str, *, force: bool = False) -> None:
    """Drop and create the database (PostgreSQL) or delete the file (SQLite)."""
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(u.database or "").resolve()
        if not force and path.exists() and RESULTS.resolve() not in path.parents:
            raise SystemExit(f"refusing to delete {path}: not under {RESULTS} (use --force)")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = u.database or ""
    if not force and not (name.startswith("bench") or name.startswith("test_bench")):
        raise SystemExit(f"refusing to drop database {name!r}: the benchmark only drops bench* (use --force)")
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def migrate(url: str) -> None:
    """The schema exactly as production gets it: `flask db upgrade` (Alembic)."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", "db", "upgrade"],
                          cwd=ROOT, env=app_env(url), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"flask db upgrade failed:\n{done.stdout}\n{done.stderr}")


# --- bulk loading -------------------------------------------------------------------------------------


def _pg_value(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _copy(conn: sa.Connection, table: str, rows: list[dict]) -> None:
    """PostgreSQL COPY ... FROM STDIN: the fastest way in, one row object at a time."""
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_pg_value(row[c]) for c in columns])


def _insert(conn: sa.Connection, table: str, rows: list[dict]) -> None:
    """SQLAlchemy Core insert() with lists of dicts (executemany), CHUNK rows at a time."""
    target = db.metadata.tables[table]
    for start in range(0, len(rows), CHUNK):
        conn.execute(target.insert(), rows[start:start + CHUNK])


def _reset_sequences(conn: sa.Connection, tables: list[str]) -> None:
    """Ids were given explicitly: move each serial on, so the app's next insert gets a free id."""
    for table in tables:
        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


def load(url: str, data: Dataset, *, analyze: bool | None = None) -> None:
    """Insert every table of `data` in one transaction; on PostgreSQL, VACUUM ANALYZE after."""
    import tracker.models  # noqa: F401  (every table in db.metadata)

    engine = sa.create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if not postgres:
            conn.exec_driver_sql("PRAGMA synchronous = OFF")  # a benchmark file: no fsync while loading
        for table, rows in data.tables.items():
            if rows:
                (_copy if postgres else _insert)(conn, table, rows)
        if postgres:
            _reset_sequences(conn, [t for t, rows in data.tables.items() if rows and "id" in rows[0]])
        conn.commit()
    # PostgreSQL's autovacuum would analyze the fresh tables within a minute; do it now so the first
    # measurement sees the plans production sees. SQLite is left as the app leaves it (no ANALYZE).
    if analyze if analyze is not None else postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if postgres else "ANALYZE")
    engine.dispose()


def category_ids(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.scalars(sa.text("SELECT id FROM categories ORDER BY sort_order, id")))
    engine.dispose()
    return ids


def generate(url: str, shape: Shape, *, force: bool = False, analyze: bool | None = None,
             echo=print) -> dict:
    """Fresh database, schema, rows; returns the dataset's facts with the seconds each step took."""
    tz = os.environ.get("TIMEZONE") or "Asia/Shanghai"
    shape = shape.resolved()
    echo(f"generating {shape.describe()} into {sa.make_url(url).render_as_string(hide_password=True)}")
    started = time.perf_counter()
    fresh_database(url, force=force)
    migrate(url)
    schema = time.perf_counter()
    # One hash for everybody: hashing thousands of scrypt passwords would take minutes.
    data = build(shape, today=Clock(tz).today(), tz=tz, password_hash=generate_password_hash(BENCH_PASSWORD),
                 category_ids=category_ids(url))
    built = time.perf_counter()
    load(url, data, analyze=analyze)
    done = time.perf_counter()
    rows = sum(len(r) for r in data.tables.values())
    facts = dict(data.facts, url=url, rows=rows, counts={t: len(r) for t, r in data.tables.items()},
                 seconds=dict(schema=schema - started, build=built - schema, load=done - built,
                              total=done - started))
    s = facts["seconds"]
    echo(f"  {rows:,} rows in {s['total']:.1f} s (schema {s['schema']:.1f} s, rows built {s['build']:.1f} s, "
         f"inserted {s['load']:.1f} s = {rows / max(s['load'], 1e-9):,.0f} rows/s); "
         f"{facts['overdue']:,} overdue, tasks by state {facts['tasks_by_state']}")
    return facts


# --- command line ---------------------------------------------------------------------------------------


def _env(name: str, kind=str, default=None):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def shape_from_env(**overrides) -> Shape:
    """The workload shape from BENCH_* variables (BENCH_TASKS, BENCH_PROBLEMS, …); overrides win."""
    values = dict(
        tasks=_env("BENCH_TASKS", int, 100_000), problems=_env("BENCH_PROBLEMS", int),
        users=_env("BENCH_USERS", int), units=_env("BENCH_UNITS", int),
        closed_share=_env("BENCH_CLOSED_SHARE", float, 0.55),
        deadline_spread=_env("BENCH_DEADLINE_SPREAD", int), one_unit=_env("BENCH_ONE_UNIT", bool, False),
        seed=_env("BENCH_SEED", int, Shape.seed), audit=_env("BENCH_AUDIT", bool, False),
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Shape(**values)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, help="measures (default 100000 or BENCH_TASKS)")
    p.add_argument("--problems", type=int, help="problems (default 30%% of tasks)")
    p.add_argument("--users", type=int, help="users (default 5%% of tasks)")
    p.add_argument("--units", type=int, help="units (default 0.2%% of tasks, at least 5)")
    p.add_argument("--closed-share", type=float, help="share of measures closed out (default 0.55)")
    p.add_argument("--deadline-spread", type=int, metavar="DAYS",
                   help="every deadline uniform over today ± DAYS (default: realistic, see README)")
    p.add_argument("--one-unit", action="store_true", default=None, help="everybody in one unit")
    p.add_argument("--seed", type=int, help="random seed (same seed and shape, same data)")
    p.add_argument("--audit", action="store_true", default=None, help="also write audit events")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", help="database URL (default DATABASE_URL, else --backend's database)")
    where.add_argument("--backend", choices=("sqlite", "postgresql"),
                       help="benchmarks/results/bench.sqlite3, or database bench on BENCH_POSTGRES_URL")
    p.add_argument("--force", action="store_true", help="allow dropping a database not named bench*")
    return p


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    shape = shape_from_env(tasks=args.tasks, problems=args.problems, users=args.users, units=args.units,
                           closed_share=args.closed_share, deadline_spread=args.deadline_spread,
                           one_unit=args.one_unit, seed=args.seed, audit=args.audit)
    if args.backend == "postgresql":
        url = postgres_url()
    elif args.backend == "sqlite":
        url = sqlite_url()
    else:
        url = args.url or os.environ.get("DATABASE_URL") or sqlite_url()
    generate(url, shape, force=args.force)
    print(f"log in as bench_manager / {BENCH_PASSWORD} (also bench_admin, bench_staff, bench_viewer)")


if __name__ == "__main__":
    main()
