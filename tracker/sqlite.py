"""SQLite connection settings: WAL for concurrent readers, and planner statistics from the start.

PostgreSQL gathers statistics by itself (autovacuum). SQLite never does: without `sqlite_stat1`
its planner picked a sort over the partial overdue index. So a new connection analyses a file
that was never analysed, or whose measures grew or shrank more than twofold since (42 ms at 20k
measures; a sampled `analysis_limit` gave estimates too rough to pick that index), and the
scheduler analyses it again every night.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from flask import Flask

JOURNAL_MODES = ("WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF")
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def init_app(app: Flask, engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    journal = str(app.config["SQLITE_JOURNAL_MODE"]).upper()
    synchronous = str(app.config["SQLITE_SYNCHRONOUS"]).upper()
    if journal not in JOURNAL_MODES or synchronous not in SYNCHRONOUS:
        raise ValueError(f"SQLITE_JOURNAL_MODE must be one of {JOURNAL_MODES}, "
                         f"SQLITE_SYNCHRONOUS one of {SYNCHRONOUS}")

    def on_connect(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        if engine.url.database not in (None, "", ":memory:"):
            try:  # persistent in the file: only the first connection really switches it
                dbapi_connection.execute(f"PRAGMA journal_mode = {journal}")
            except sqlite3.OperationalError:  # locked by a writer; the next connection sets it
                pass
        dbapi_connection.execute(f"PRAGMA synchronous = {synchronous}")
        if _statistics_stale(dbapi_connection):
            try:
                dbapi_connection.execute("ANALYZE")
                dbapi_connection.commit()
            except sqlite3.OperationalError:  # another process holds the write lock: it will do it
                pass

    sa.event.listen(engine, "connect", on_connect)


def _statistics_stale(conn: sqlite3.Connection) -> bool:
    """True when the measures table exists and was never analysed, or has since grown or shrunk
    more than twofold (a database analysed empty at its first start, then filled)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'tasks'").fetchone():
        return False
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        return True
    row = conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'tasks' LIMIT 1").fetchone()
    recorded = int(row[0].split()[0]) if row else 0
    actual = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    return actual > 2 * recorded + 100 or recorded > 2 * actual + 100


def optimize(engine: sa.Engine) -> None:
    """Re-sample the planner's statistics (SQLite only; the scheduler runs it daily)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
