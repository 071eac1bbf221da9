"""`flask db upgrade` builds exactly the models' schema (and seeds the categories); `downgrade` undoes it.

Runs on an empty SQLite file and on a PostgreSQL database created for the test and dropped after
(only when TRACKER_TEST_POSTGRES_URL is set).
"""

from __future__ import annotations

import logging
import os
import uuid

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PG_URL

from tracker import create_app
from tracker.extensions import db
from tracker.problems.services import DEFAULT_CATEGORIES

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="TRACKER_TEST_POSTGRES_URL is not set"))]


@pytest.fixture
def keep_logging():
    """Alembic's env.py runs logging.fileConfig, which disables every logger it does not name."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    disabled = {name: lg.disabled for name, lg in logging.root.manager.loggerDict.items()
                if isinstance(lg, logging.Logger)}
    yield
    root.handlers[:], root.level = handlers, level
    for name, lg in logging.root.manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            lg.disabled = disabled.get(name, False)


@pytest.fixture
def empty_database(request, tmp_path):
    """The URL of a brand-new, empty database of the requested kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    server = sa.make_url(PG_URL)
    name = f"test_migrations_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _app(url, tmp_path):
    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "instance")
    try:
        return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": url})
    finally:
        del os.environ["TRACKER_INSTANCE_PATH"]


def _differences() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


@pytest.mark.parametrize("empty_database", BACKENDS, indirect=True)
def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_database, tmp_path, keep_logging):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        assert _tables() == set()
        flask_migrate.upgrade()
        assert _differences() == []
        assert _tables() == set(db.metadata.tables) | {"alembic_version"}
        names = db.session.scalars(sa.text("SELECT name FROM categories ORDER BY sort_order")).all()
        assert tuple(names) == DEFAULT_CATEGORIES
        db.session.remove()

        flask_migrate.downgrade(revision="base")
        assert _tables() <= {"alembic_version"}
        # And back up again: the downgrade left nothing behind that would block a new upgrade.
        flask_migrate.upgrade()
        assert _differences() == []
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_upgrade_is_idempotent(empty_database, tmp_path, keep_logging):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.upgrade()
        count = db.session.scalar(sa.text("SELECT count(*) FROM categories"))
        assert count == len(DEFAULT_CATEGORIES)
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("empty_database", BACKENDS, indirect=True)
def test_0008_allows_the_transition_notices_and_keeps_refusing_unknown_kinds(empty_database, tmp_path,
                                                                               keep_logging):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        flask_migrate.upgrade(revision="0007")
        db.session.execute(sa.text(
            "INSERT INTO users (username, name, password_hash, role, language, active, weekly_digest, "
            "created_at) VALUES ('a', 'A', 'x', 'admin', 'en', true, true, CURRENT_TIMESTAMP)"))
        db.session.commit()
        flask_migrate.upgrade()
        assert db.session.scalar(sa.text("SELECT notify_transitions FROM users")) in (True, 1)
        insert = ("INSERT INTO notifications (user_id, kind, channel, dedupe_key, subject, body_text, "
                  "body_html, status, attempts, next_attempt_at, created_at) VALUES "
                  "((SELECT id FROM users), :kind, 'email', :key, 's', 't', 'h', 'pending', 0, "
                  "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        for kind in ("submitted", "rejected", "verified", "digest"):
            db.session.execute(sa.text(insert), {"kind": kind, "key": kind})
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.text(insert), {"kind": "nonsense", "key": "x"})
        db.session.rollback()
        # The attempts CHECK survived SQLite's copy of the table.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.text("UPDATE notifications SET attempts = -1"))
        db.session.rollback()
        flask_migrate.downgrade(revision="0007")
        assert db.session.scalar(sa.text("SELECT count(*) FROM notifications")) == 1
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("empty_database", BACKENDS, indirect=True)
def test_0009_existing_measures_are_not_asked_to_sign(empty_database, tmp_path, keep_logging):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        flask_migrate.upgrade(revision="0008")
        statements = [
            "INSERT INTO units (id, code, name, path, sort_order, created_at) "
            "VALUES (1, 'A', 'A', '/0000000001/', 0, CURRENT_TIMESTAMP)",
            "INSERT INTO users (id, username, name, password_hash, role, unit_id, language, active, "
            "weekly_digest, created_at) "
            "VALUES (1, 'a', 'A', 'x', 'staff', 1, 'en', true, true, CURRENT_TIMESTAMP)",
            "INSERT INTO sources (id, name, kind, unit_id, held_on, created_at) "
            "VALUES (1, 's', 'audit', 1, '2026-01-01', CURRENT_TIMESTAMP)",
            "INSERT INTO problems (id, number, description, category_id, source_id, unit_id, found_on, "
            "lead_unit_id, state, version, created_at) "
            "VALUES (1, '1', 'd', (SELECT min(id) FROM categories), 1, 1, '2026-01-01', 1, 'open', 1, "
            "'2026-01-02 03:04:05')",
            "INSERT INTO tasks (id, problem_id, measure, type, owner_id, unit_id, state, version, "
            "created_at) VALUES (1, 1, 'm', 'ongoing', 1, 1, 'assigned', 1, '2026-01-02 03:04:05')",
        ]
        for statement in statements:
            db.session.execute(sa.text(statement))
        db.session.commit()
        flask_migrate.upgrade()
        row = db.session.execute(sa.text("SELECT ack_required, acknowledged_at, assigned_at, created_at "
                                         "FROM tasks")).one()
        assert row.ack_required in (False, 0) and row.acknowledged_at is None
        assert row.assigned_at == row.created_at
        db.session.execute(sa.text(
            "INSERT INTO notifications (user_id, kind, channel, dedupe_key, subject, body_text, body_html, "
            "status, attempts, next_attempt_at, created_at) VALUES (1, 'ack_due', 'email', 'k', 's', 't', "
            "'h', 'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        db.session.commit()
        flask_migrate.downgrade(revision="0008")
        assert db.session.scalar(sa.text("SELECT count(*) FROM notifications")) == 0
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("empty_database", BACKENDS, indirect=True)
def test_0011_a_measure_waiting_for_verification_keeps_todays_single_step(empty_database, tmp_path,
                                                                          keep_logging):
    """A populated database at 0010: a measure submitted, one closed, one in progress. After the
    upgrade the submitted one waits at the default step and a manager closes it as before."""
    app = _app(empty_database, tmp_path)
    with app.app_context():
        flask_migrate.upgrade(revision="0010")
        statements = [
            "INSERT INTO units (id, code, name, path, sort_order, created_at) "
            "VALUES (1, 'A', 'A', '/0000000001/', 0, CURRENT_TIMESTAMP)",
            "INSERT INTO users (id, username, name, password_hash, role, unit_id, language, active, "
            "weekly_digest, notify_transitions, created_at) VALUES "
            "(1, 'a', 'A', 'x', 'staff', 1, 'en', true, true, true, CURRENT_TIMESTAMP), "
            "(2, 'm', 'M', 'x', 'manager', 1, 'en', true, true, true, CURRENT_TIMESTAMP)",
            "INSERT INTO sources (id, name, kind, unit_id, held_on, created_at) "
            "VALUES (1, 's', 'audit', 1, '2026-01-01', CURRENT_TIMESTAMP)",
            "INSERT INTO problems (id, number, description, category_id, source_id, unit_id, found_on, "
            "lead_unit_id, state, version, created_at) "
            "VALUES (1, '1', 'd', (SELECT min(id) FROM categories), 1, 1, '2026-01-01', 1, 'open', 1, "
            "'2026-01-02 03:04:05')",
            "INSERT INTO tasks (id, problem_id, measure, type, owner_id, unit_id, deadline, state, result, "
            "version, created_at, submitted_at, submitted_by_id, closed_at, ack_required) VALUES "
            "(1, 1, 'm', 'deadline', 1, 1, '2026-12-31', 'submitted', 'r', 3, '2026-01-02 03:04:05', "
            "'2026-02-01 00:00:00', 1, NULL, false), "
            "(2, 1, 'm', 'deadline', 1, 1, '2026-12-31', 'closed', 'r', 4, '2026-01-02 03:04:05', "
            "'2026-02-01 00:00:00', 1, '2026-02-02 00:00:00', false), "
            "(3, 1, 'm', 'deadline', 1, 1, '2026-12-31', 'in_progress', NULL, 2, '2026-01-02 03:04:05', "
            "NULL, NULL, NULL, false)",
        ]
        for statement in statements:
            db.session.execute(sa.text(statement))
        db.session.commit()
        flask_migrate.upgrade()
        rows = db.session.execute(sa.text(
            "SELECT id, submissions, review_step, rating FROM tasks ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, 1, 1, None), (2, 1, None, None), (3, 0, None, None)]
        steps = db.session.execute(sa.text("SELECT task_id, position, kind FROM task_review_steps")).all()
        assert [tuple(s) for s in steps] == [(1, 1, "managers")]

        from tracker.clock import Clock
        from tracker.org.models import User
        from tracker.tasks import rules
        from tracker.tasks import services as tasks
        from tracker.tasks.models import Task

        task, manager = db.session.get(Task, 1), db.session.get(User, 2)
        assert "verify" in rules.available(task, manager) and "pass" not in rules.available(task, manager)
        tasks.verify(task, manager, Clock.parse("2026-03-01T10:00:00"), rating="satisfied")
        db.session.commit()
        assert task.state.value == "closed"
        db.session.remove()  # the downgrade rebuilds tables: no reader may hold them
        flask_migrate.downgrade(revision="0010")
        assert "task_review_steps" not in _tables()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("empty_database", BACKENDS, indirect=True)
def test_0015_keeps_the_outbox_and_lets_a_message_go_to_a_person_or_a_channel_never_both(
        empty_database, tmp_path, keep_logging):
    app = _app(empty_database, tmp_path)
    with app.app_context():
        flask_migrate.upgrade(revision="0014")
        db.session.execute(sa.text(
            "INSERT INTO users (username, name, password_hash, role, language, active, weekly_digest, "
            "notify_transitions, created_at) VALUES ('a', 'A', 'x', 'admin', 'en', true, true, true, "
            "CURRENT_TIMESTAMP)"))
        db.session.execute(sa.text(
            "INSERT INTO units (code, name, path, sort_order, created_at) "
            "VALUES ('U', 'Unit', '/', 0, CURRENT_TIMESTAMP)"))
        insert = ("INSERT INTO notifications (user_id, kind, channel, dedupe_key, subject, body_text, "
                  "body_html, status, attempts, next_attempt_at, created_at) VALUES "
                  "(:user, :kind, :channel, :key, 's', 't', 'h', 'pending', 0, CURRENT_TIMESTAMP, "
                  "CURRENT_TIMESTAMP)")
        db.session.execute(sa.text(insert), {"user": 1, "kind": "overdue", "channel": "email", "key": "old"})
        db.session.commit()
        flask_migrate.upgrade()
        assert db.session.scalar(sa.text("SELECT count(*) FROM notifications WHERE user_id IS NOT NULL")) == 1
        db.session.execute(sa.text(
            "INSERT INTO unit_channels (unit_id, kind, name, language, url_encrypted, url_hint, daily, "
            "weekly, escalations, notices, active, window_count, created_at, updated_at, version) VALUES "
            "((SELECT id FROM units), 'wecom', 'g', 'zh_CN', 'x', 'h', true, true, true, true, true, 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"))
        channel_insert = insert.replace("(user_id,", "(channel_id,")
        db.session.execute(sa.text(channel_insert), {"user": db.session.scalar(sa.text(
            "SELECT id FROM unit_channels")), "kind": "unit_daily", "channel": "robot", "key": "new"})
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):  # nobody to send it to
            db.session.execute(sa.text(insert), {"user": None, "kind": "overdue", "channel": "email",
                                                 "key": "none"})
        db.session.rollback()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.text(insert), {"user": 1, "kind": "no_such_kind", "channel": "email",
                                                 "key": "bad"})
        db.session.rollback()
        db.session.remove()
        flask_migrate.downgrade(revision="0014")
        assert db.session.scalar(sa.text("SELECT dedupe_key FROM notifications")) == "old"
        assert "unit_channels" not in sa.inspect(db.session.connection()).get_table_names()
        db.session.remove()
        db.engine.dispose()
