"""Backup and restore (SQLite→SQLite, PostgreSQL→PostgreSQL, SQLite→PostgreSQL) and migrations over data.

Every database here is built by the real migrations (`flask db upgrade`), on a SQLite file or on a
PostgreSQL database created for the test and dropped after (when TRACKER_TEST_POSTGRES_URL is set).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
import zipfile
from datetime import date
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from conftest import NOW, PG_URL

from tracker import create_app
from tracker.clock import Clock
from tracker.demo import load_demo
from tracker.extensions import db
from tracker.ops import backup

needs_pg = pytest.mark.skipif(not PG_URL, reason="TRACKER_TEST_POSTGRES_URL is not set")


@pytest.fixture(autouse=True)
def keep_logging():
    """Alembic's env.py runs logging.fileConfig, which disables every logger it does not name."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = {lg.name: lg.disabled for lg in loggers}
    yield
    root.handlers[:], root.level = handlers, level
    for lg in logging.root.manager.loggerDict.values():
        if isinstance(lg, logging.Logger):
            lg.disabled = disabled.get(lg.name, False)


@pytest.fixture
def new_database(tmp_path):
    """new_database(kind) → the URL of a brand-new empty database (PostgreSQL ones are dropped after)."""
    created, server = [], sa.make_url(PG_URL) if PG_URL else None

    def new(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"test_ops_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield new
    if created:
        admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_app(tmp_path):
    """make_app(url, revision="head", **settings) → an app on `url`, migrated, with its own instance."""
    apps = []

    def make(url: str, revision: str | None = "head", **settings):
        os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / f"instance-{len(apps)}")
        try:
            app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": url, "NOW": NOW,
                              "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **settings})
        finally:
            del os.environ["TRACKER_INSTANCE_PATH"]
        if revision:
            with app.app_context():
                flask_migrate.upgrade(revision=revision)
                db.session.remove()
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _demo(app) -> None:
    with app.app_context():
        load_demo(Clock.parse(NOW))
        db.session.commit()
        db.session.remove()


def contents(app) -> dict[str, list[str]]:
    """Every table's rows, each as canonical JSON, sorted: two databases with equal contents compare equal."""
    with app.app_context(), db.engine.connect() as conn:
        found = {}
        for table in backup.data_tables(backup.reflect(conn)):
            names = [c.name for c in table.columns]
            found[table.name] = sorted(json.dumps(dict(zip(names, row, strict=True)), sort_keys=True)
                                       for row in backup.table_rows(conn, table))
        return found


def files_of(app) -> dict[str, bytes]:
    uploads = Path(app.instance_path) / "uploads"
    return {p.relative_to(uploads).as_posix(): p.read_bytes() for p in uploads.rglob("*") if p.is_file()}


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input, catch_exceptions=False)


CASES = [("sqlite", "sqlite"), pytest.param("postgresql", "postgresql", marks=needs_pg),
         pytest.param("sqlite", "postgresql", marks=needs_pg)]


@pytest.mark.parametrize(("source_kind", "target_kind"), CASES)
def test_backup_then_restore_gives_the_same_tables_and_files(source_kind, target_kind, new_database,
                                                             make_app, tmp_path):
    source = make_app(new_database(source_kind))
    _demo(source)
    archive = tmp_path / "backup.zip"
    result = run(source, "backup", str(archive))
    assert result.exit_code == 0, result.output
    before, before_files = contents(source), files_of(source)
    assert sum(map(len, before.values())) > 100 and before["tasks"] and before["audit_events"]
    assert before_files, "the demo attaches evidence files"

    target = make_app(new_database(target_kind))
    result = run(target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    after = contents(target)
    assert {name: len(rows) for name, rows in after.items()} == {n: len(r) for n, r in before.items()}
    assert after == before
    assert files_of(target) == before_files

    # New rows get fresh ids after a restore (PostgreSQL sequences moved past the restored ones).
    with target.app_context():
        top = db.session.scalar(sa.text("SELECT max(id) FROM units"))
        db.session.execute(sa.text("INSERT INTO units (code, name, path, sort_order, created_at) "
                                   "VALUES ('NEW', '新单位', '/x/', 0, CURRENT_TIMESTAMP)"))
        assert db.session.scalar(sa.text("SELECT id FROM units WHERE code = 'NEW'")) > top
        db.session.rollback()


def test_the_archive_holds_a_manifest_tables_and_files(new_database, make_app, tmp_path):
    app = make_app(new_database("sqlite"))
    _demo(app)
    full, bare = tmp_path / "full.zip", tmp_path / "bare.zip"
    assert run(app, "backup", str(full)).exit_code == 0
    assert run(app, "backup", str(bare), "--no-files").exit_code == 0
    with zipfile.ZipFile(full) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = zf.namelist()
    with app.app_context():
        revision = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert manifest["alembic_revision"] == revision
        assert manifest["tables"]["tasks"]["rows"] == db.session.scalar(sa.text("SELECT count(*) FROM tasks"))
    assert "scheduler_lease" not in manifest["tables"] and "alembic_version" not in manifest["tables"]
    assert len(manifest["files"]) == len(files_of(app)) > 0
    assert {f"files/{f['area']}/{f['name']}" for f in manifest["files"]} <= set(names)
    assert {f["area"] for f in manifest["files"]} == {"evidence"}
    with zipfile.ZipFile(bare) as zf:
        assert not [n for n in zf.namelist() if n.startswith("files/")]
        assert json.loads(zf.read("manifest.json"))["files"] is None
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=needs_pg)])
def test_snapshot_does_not_see_later_writes(kind, new_database, make_app):
    app = make_app(new_database(kind))
    with app.app_context():
        units = sa.table("units", sa.column("code"))
        with backup.snapshot(db.engine) as snap:
            table = backup.reflect(snap).tables["units"]
            with db.engine.begin() as other:
                other.execute(sa.text("INSERT INTO units (code, name, path, sort_order, created_at) "
                                      "VALUES ('LATE', '后来的', '/1/', 0, CURRENT_TIMESTAMP)"))
            assert list(backup.table_rows(snap, table)) == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(units)) == 1


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=needs_pg)])
def test_restore_refuses_a_database_with_data_unless_forced(kind, new_database, make_app, tmp_path):
    source = make_app(new_database("sqlite"))
    _demo(source)
    archive = tmp_path / "b.zip"
    run(source, "backup", str(archive), "--no-files")
    target = make_app(new_database(kind))
    with target.app_context():
        db.session.execute(sa.text("INSERT INTO units (code, name, path, sort_order, created_at) "
                                   "VALUES ('MINE', '已有单位', '/1/', 0, CURRENT_TIMESTAMP)"))
        db.session.commit()
    result = run(target, "restore", str(archive))
    assert result.exit_code != 0
    assert "not empty" in result.output and "units: 1" in result.output

    result = run(target, "restore", str(archive), "--force", input="n\n")
    assert result.exit_code != 0 and "DELETES" in result.output
    with target.app_context():
        assert db.session.scalar(sa.text("SELECT code FROM units")) == "MINE"

    result = run(target, "restore", str(archive), "--force", "--yes")
    assert result.exit_code == 0, result.output
    assert contents(target) == contents(source)


def test_restore_renews_the_reference_stamp(new_database, make_app, tmp_path):
    """Running processes must drop the pick lists they cached before the restore."""
    source = make_app(new_database("sqlite"))
    _demo(source)
    archive = tmp_path / "b.zip"
    run(source, "backup", str(archive), "--no-files")
    target = make_app(new_database("sqlite"))
    read = "SELECT stamp FROM reference_stamp"
    with target.app_context():
        before = db.session.scalar(sa.text(read))
        db.session.remove()
    assert run(target, "restore", str(archive), "--force", "--yes").exit_code == 0
    with target.app_context():
        assert db.session.scalar(sa.text(read)) not in (None, before)
    with source.app_context():
        assert db.session.scalar(sa.text(read)) is not None


def test_restore_forgets_the_dashboard_snapshots(new_database, make_app, tmp_path):
    """Kept dashboard figures were counted from the data the restore replaces: none may be served after."""
    source = make_app(new_database("sqlite"))
    _demo(source)
    archive = tmp_path / "b.zip"
    run(source, "backup", str(archive), "--no-files")
    target = make_app(new_database("sqlite"))
    _demo(target)
    with target.app_context():
        db.session.execute(sa.text(
            "INSERT INTO dashboard_snapshots (key, unit_id, payload, computed_at, took_ms) "
            "SELECT 'k', min(id), '{}', CURRENT_TIMESTAMP, 900 FROM units"))
        db.session.commit()
        db.session.remove()
    assert run(target, "restore", str(archive), "--force", "--yes").exit_code == 0
    with target.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM dashboard_snapshots")) == 0
    assert contents(target) == contents(source)


def test_restore_refuses_another_migration_revision(new_database, make_app, tmp_path):
    source = make_app(new_database("sqlite"))
    archive = tmp_path / "b.zip"
    run(source, "backup", str(archive))
    older = make_app(new_database("sqlite"), revision="0001")
    result = run(older, "restore", str(archive))
    assert result.exit_code != 0 and "migration" in result.output and "0001" in result.output
    bare = make_app(new_database("sqlite"), revision=None)
    result = run(bare, "restore", str(archive))
    assert result.exit_code != 0 and "db upgrade" in result.output


def _rewrite(archive: Path, target: Path, member: str, change) -> None:
    """Copy the archive with one member changed (its zip CRC stays valid: only our checksum can tell)."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, change(data) if info.filename == member else data)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=needs_pg)])
def test_a_damaged_archive_is_refused_and_changes_nothing(kind, new_database, make_app, tmp_path):
    source = make_app(new_database("sqlite"))
    _demo(source)
    archive = tmp_path / "good.zip"
    run(source, "backup", str(archive))
    raw = archive.read_bytes()
    flipped = tmp_path / "flipped.zip"
    middle = len(raw) // 2
    flipped.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1:])
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(raw[: len(raw) // 3])
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    edited = tmp_path / "edited.zip"
    _rewrite(archive, edited, "tables/tasks.jsonl", lambda b: b.replace("整改".encode(), "改过".encode(), 1))
    missing = tmp_path / "missing.zip"
    _rewrite(archive, missing, "manifest.json", lambda b: b.replace(b'"tasks"', b'"tasks_x"', 1))

    target = make_app(new_database(kind))
    empty = contents(target)
    for bad, words in [(flipped, "damaged"), (truncated, "damaged"), (not_zip, "not a backup archive"),
                       (edited, "does not match the manifest"), (missing, "tables differ"),
                       (tmp_path / "absent.zip", "no such file")]:
        result = run(target, "restore", str(bad))
        assert result.exit_code != 0, bad
        assert words in result.output, (bad, result.output)
        assert "Traceback" not in result.output
        assert contents(target) == empty
    assert run(target, "restore", str(archive)).exit_code == 0


# --- migrations over data ------------------------------------------------------------------------

FIRST_REVISION_DATA = [
    ("units", "INSERT INTO units (id, code, name, parent_id, path, sort_order, created_at) VALUES "
              "(1, 'ROOT', '某局党委', NULL, '/1/', 0, '2025-01-02 03:04:05'), "
              "(2, 'A', '第一党支部', 1, '/1/2/', 1, '2025-01-02 03:04:05')"),
    ("users", "INSERT INTO users (id, username, name, email, password_hash, role, unit_id, language, active, "
              "weekly_digest, created_at) VALUES "
              "(1, 'boss', '局长', 'boss@example.org', 'x', 'manager', 1, 'zh_CN', TRUE, TRUE, "
              "'2025-01-02 03:04:05'), "
              "(2, 'zhang', '张三', NULL, 'x', 'staff', 2, 'en', TRUE, FALSE, '2025-01-02 03:04:05')"),
    ("sources", "INSERT INTO sources (id, name, kind, unit_id, held_on, created_at) VALUES "
                "(1, '2025年巡察反馈', 'inspection_feedback', 1, '2025-01-10', '2025-01-10 08:00:00')"),
    ("problems", "INSERT INTO problems (id, number, description, category_id, source_id, unit_id, found_on, "
                 "responsible_leader_id, lead_unit_id, responsible_person_id, state, closed_on, version, "
                 "created_at, created_by_id) VALUES "
                 "(1, 'XC-2025-001', '理论学习不深入', (SELECT min(id) FROM categories), 1, 2, '2025-01-10', "
                 "1, 2, 2, 'open', NULL, 1, '2025-01-11 08:00:00', 1)"),
    ("problem_cooperating_units",
     "INSERT INTO problem_cooperating_units (problem_id, unit_id) VALUES (1, 1)"),
    ("tasks", "INSERT INTO tasks (id, problem_id, measure, target, type, owner_id, unit_id, deadline, "
              "original_deadline, state, result, version, created_at, created_by_id, started_at) VALUES "
              "(1, 1, '制定学习计划', '每月集中学习', 'deadline', 2, 2, '2025-03-31', '2025-03-31', "
              "'in_progress', NULL, 2, '2025-01-11 08:00:00', 1, '2025-01-12 09:00:00'), "
              "(2, 1, '长期坚持学习制度', NULL, 'ongoing', 2, 2, NULL, NULL, 'assigned', NULL, 1, "
              "'2025-01-11 08:00:00', 1, NULL)"),
    ("progress", "INSERT INTO progress (id, task_id, author_id, body, created_at) VALUES "
                 "(1, 1, 2, '已制定学习计划', '2025-01-12 09:00:00')"),
    ("audit_events", "INSERT INTO audit_events (id, created_at, actor_id, action, object_type, object_id, "
                     "task_id, problem_id, before, after, comment) VALUES "
                     "(1, '2025-01-11 08:00:00', 1, 'create', 'task', 1, 1, 1, NULL, "
                     "'{\"state\": \"assigned\"}', NULL), "
                     "(2, '2025-01-12 09:00:00', 2, 'progress', 'task', 1, 1, 1, "
                     "'{\"state\": \"assigned\"}', '{\"state\": \"in_progress\"}', '开始整改')"),
]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=needs_pg)])
def test_upgrading_from_the_first_revision_keeps_every_row(kind, new_database, make_app):
    app = make_app(new_database(kind), revision="0001")
    with app.app_context():
        for _table, sql in FIRST_REVISION_DATA:
            db.session.execute(sa.text(sql))
        db.session.commit()
        db.session.remove()
    before = contents(app)
    assert all(before[table] for table, _sql in FIRST_REVISION_DATA)

    with app.app_context():
        flask_migrate.upgrade()
        db.session.remove()
    after = contents(app)
    for table, _sql in FIRST_REVISION_DATA:
        old = [json.loads(row) for row in before[table]]
        new = [json.loads(row) for row in after[table]]
        if table == "units":  # 0006 zero-pads the ids of the path: the same tree, sorted as a tree
            assert sorted(row["path"] for row in new) == ["/0000000001/", "/0000000001/0000000002/"]
            for row in new:
                row["path"] = "/" + "".join(f"{int(p)}/" for p in row["path"].strip("/").split("/"))
        # Columns added by later revisions may appear; every old value stays as it was.
        assert [{k: row[k] for k in old[0]} for row in new] == old, table

    # …and the app reads it through its models.
    from tracker.audit.models import AuditEvent
    from tracker.enums import TaskState, TaskType
    from tracker.problems.models import Problem
    from tracker.tasks.models import Progress, Task

    with app.app_context():
        task = db.session.get(Task, 1)
        assert task.state is TaskState.IN_PROGRESS and task.deadline == date(2025, 3, 31)
        assert task.owner.username == "zhang" and task.unit.code == "A"
        assert db.session.get(Task, 2).type is TaskType.ONGOING
        problem = db.session.get(Problem, 1)
        assert problem.number == "XC-2025-001" and [u.code for u in problem.cooperating_units] == ["ROOT"]
        assert db.session.get(Progress, 1).body == "已制定学习计划"
        assert db.session.get(AuditEvent, 2).after == {"state": "in_progress"}
        db.session.remove()
        flask_migrate.downgrade(revision="0005")
        db.session.remove()
    assert contents(app)["units"] == before["units"]
