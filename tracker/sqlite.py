"""SQLite connection settings: WAL for concurrent readers, and planner statistics from the start.

PostgreSQL gathers statistics by itself (autovacuum). SQLite never does: without `sqlite_stat1`
its planner picked a sort over the partial overdue index. So a file that has never been analysed
is analysed on its first connection (42 ms at 20k measures; a sampled `analysis_limit` gave
estimates too rough to pick that index), and the scheduler's daily run analyses it again.
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
        analysed = dbapi_connection.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
        has_tasks = dbapi_connection.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'tasks'").fetchone()
        if has_tasks and not analysed:
            try:
                dbapi_connection.execute("ANALYZE")
                dbapi_connection.commit()
            except sqlite3.OperationalError:  # another process holds the write lock: it will do it
                pass

    sa.event.listen(engine, "connect", on_connect)


def optimize(engine: sa.Engine) -> None:
    """Re-sample the planner's statistics (SQLite only; the scheduler runs it daily)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
