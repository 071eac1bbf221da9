"""Fixtures: an app per test on a real SQLite file or the real PostgreSQL, factories, login.

Every test that uses `app` runs once per backend: SQLite always, PostgreSQL too when
TRACKER_TEST_POSTGRES_URL is set (and then a PostgreSQL failure is a failure, not a skip).
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from flask import g
from sqlalchemy.engine import Engine

from tracker import create_app, refdata
from tracker.clock import Clock
from tracker.enums import Role, SourceKind, TaskType
from tracker.extensions import db
from tracker.reminders import services as reminder_services

# live_server, browser, page; live_gunicorn; the notices' measures and issue(); the robots' receivers;
# an S3 server
pytest_plugins = ["browser_support", "live_gunicorn", "notice_support", "robot_receivers", "s3_support"]

NOW = "2026-06-15T10:00:00"  # a Monday, Asia/Shanghai
TODAY = date(2026, 6, 15)
PASSWORD = "quiet-lantern-58"  # passes the password policy (tracker.org.passwords)
PG_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    """The database backend; for PostgreSQL the schema is built once per session."""
    if request.param == "postgresql":
        engine = sa.create_engine(PG_URL)
        import tracker.models  # noqa: F401

        with engine.begin() as conn:
            db.metadata.drop_all(conn)
            db.metadata.create_all(conn)
        engine.dispose()
    return request.param


def _empty_postgres():
    # DELETE is ~20x faster than TRUNCATE on tiny tables; ids keep counting, tests never assume them.
    from tracker import refdata

    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    refdata.renew(db.session.connection())
    db.session.commit()


def _no_fsync(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")
        dbapi_connection.execute("PRAGMA journal_mode = MEMORY")


@pytest.fixture(autouse=True, scope="session")
def fast_sqlite():
    """Test databases are thrown away: skip the fsync of every commit."""
    sa.event.listen(Engine, "connect", _no_fsync)
    yield
    sa.event.remove(Engine, "connect", _no_fsync)


@pytest.fixture
def app(backend, tmp_path):
    url = PG_URL if backend == "postgresql" else f"sqlite:///{tmp_path / 'test.sqlite3'}"
    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "instance")
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "DATABASE_URL": url,
        "WTF_CSRF_ENABLED": False,
        "NOW": NOW,
        "SERVER_NAME": "localhost",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast; the real default is scrypt
        "SQLITE_JOURNAL_MODE": "MEMORY",  # thrown away after the test: no journal file, no fsync
        "SQLITE_SYNCHRONOUS": "OFF",
        # Never keep dashboard figures because a loaded machine took long to count them: a test that
        # changes data and looks again would then see the old ones (test_dashboard_snapshots sets it).
        "DASHBOARD_CACHE_MIN_MS": 3_600_000,
    })
    del os.environ["TRACKER_INSTANCE_PATH"]

    @app.before_request
    def fresh_request_globals():
        # The fixture keeps one app context open for the whole test, so requests share `g`;
        # forget what a previous request cached there (user, locale, clock), as a server would.
        for name in ("_login_user", "clock", "login_session_id", "login_seen_due"):
            g.pop(name, None)
        # and what it read into the session (which lives as long as the app context)
        for name in (refdata.STAMP, reminder_services.UNREAD):
            db.session.info.pop(name, None)
        flask_babel.refresh()
    with app.app_context():
        if backend == "postgresql":
            _empty_postgres()
        else:
            db.create_all()
        from tracker.problems.services import seed_categories

        seed_categories()
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def clock():
    return Clock.parse(NOW)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Factory:
    """Builds objects through the real services (so rules and audit apply) with short defaults."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def unit(self, code=None, name=None, parent=None):
        from tracker.org import services as org

        n = self._next()
        return org.save_unit(None, self.clock, code=code or f"U{n}", name=name or f"单位{n}", parent=parent)

    def user(self, username=None, role=Role.STAFF, unit=None, **kw):
        from tracker.org import services as org

        n = self._next()
        return org.save_user(None, self.clock, username=username or f"user{n}",
                             name=kw.pop("name", f"用户{n}"), role=role, unit=unit,
                             password=kw.pop("password", PASSWORD),
                             email=kw.pop("email", f"user{n}@example.org"), **kw)

    def category(self):
        from tracker.problems.models import Category

        return db.session.scalars(sa.select(Category).order_by(Category.sort_order)).first()

    def source(self, unit, actor=None, **kw):
        from tracker.problems.models import Source

        n = self._next()
        src = Source(name=kw.get("name", f"来源{n}"), kind=kw.get("kind", SourceKind.SELF_INSPECTION),
                     unit_id=unit.id, held_on=kw.get("held_on", TODAY - timedelta(days=30)))
        db.session.add(src)
        db.session.flush()
        return src

    def problem(self, actor, unit=None, **kw):
        from tracker.problems import services as problems

        unit = unit or actor.unit
        data = dict(
            description=f"问题描述{self._next()}",
            category=self.category(),
            source=kw.pop("source", None) or self.source(unit),
            unit=unit,
            lead_unit=unit,
            found_on=TODAY - timedelta(days=20),
        )
        data.update(kw)
        return problems.create_problem(actor, self.clock, **data)

    def task(self, actor, problem=None, owner=None, **kw):
        from tracker.tasks import services as tasks

        problem = problem or self.problem(actor)
        owner = owner or actor
        data = dict(measure=f"整改措施{self._next()}", owner=owner, unit=kw.pop("unit", None) or owner.unit,
                    deadline=TODAY + timedelta(days=30), type=TaskType.DEADLINE)
        data.update(kw)
        return tasks.create_task(problem, actor, self.clock, **data)


@pytest.fixture
def make(app, clock):
    return Factory(clock)


@pytest.fixture
def org(app, make):
    """A small organisation: 局党委 (ROOT) with 第一党支部 (A) and 办公室 (B); A has A1 below it."""
    root = make.unit("ROOT", "某局党委")
    a = make.unit("A", "第一党支部", parent=root)
    a1 = make.unit("A1", "第一党支部一组", parent=a)
    b = make.unit("B", "办公室", parent=root)
    people = {
        "admin": make.user("admin", Role.ADMIN, None, name="管理员"),
        "mgr_root": make.user("mgr_root", Role.MANAGER, root, name="局长"),
        "mgr_a": make.user("mgr_a", Role.MANAGER, a, name="支部书记"),
        "mgr_a_2": make.user("mgr_a_2", Role.MANAGER, a, name="支部副书记"),
        "staff_a": make.user("staff_a", Role.STAFF, a, name="张三"),
        "staff_a1": make.user("staff_a1", Role.STAFF, a1, name="李四"),
        "mgr_b": make.user("mgr_b", Role.MANAGER, b, name="办公室主任"),
        "staff_b": make.user("staff_b", Role.STAFF, b, name="王五"),
        "viewer_root": make.user("viewer_root", Role.VIEWER, root, name="纪检组长"),
        "viewer_b": make.user("viewer_b", Role.VIEWER, b, name="办公室纪检员"),
    }
    db.session.commit()

    class Org:
        units = {"root": root, "a": a, "a1": a1, "b": b}
        users = people

        def __getattr__(self, name):
            return people.get(name) or self.units[name]

    return Org()


@pytest.fixture
def login_as(client):
    """Log the test client in as a user (through the real login form)."""

    def do(user):
        client.post("/logout")
        response = client.post("/login", data={"username": user.username, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return do


@contextmanager
def count_queries():
    """Count the SQL statements run inside the block."""
    statements: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):
        if not re.match(r"\s*(SAVEPOINT|RELEASE|ROLLBACK)", statement):
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture
def queries():
    return count_queries


def when(clock_iso: str) -> Clock:
    return Clock.parse(clock_iso)


__all__ = ["NOW", "TODAY", "PASSWORD", "count_queries", "when", "datetime"]
