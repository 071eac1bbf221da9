"""GET /healthz and the structured logs (request ids, access lines, JSON format)."""

from __future__ import annotations

import io
import json
import logging
import os
from datetime import timedelta

import pytest
from conftest import PASSWORD

from tracker import create_app
from tracker.clock import utcnow
from tracker.extensions import db
from tracker.ops import logging as ops_logging
from tracker.reminders.leader import LeaseElector
from tracker.reminders.models import Notification, NotificationKind, NotificationStatus


def _notification(user, status, created_at, n):
    db.session.add(Notification(user_id=user.id, kind=NotificationKind.DIGEST, dedupe_key=f"k{n}",
                                subject="s", body_text="t", body_html="h", status=status,
                                created_at=created_at, next_attempt_at=created_at))


HEALTH_TOKEN = "hc-" + "k3" * 20


@pytest.fixture
def health_token(app):
    app.config["HEALTH_TOKEN"] = HEALTH_TOKEN
    return {"Authorization": f"Bearer {HEALTH_TOKEN}"}


def test_healthz_without_credentials_says_only_up(app, client, org):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_reports_database_scheduler_and_outbox_to_the_health_token(app, client, org, clock,
                                                                          health_token):
    now = clock.now()
    _notification(org.staff_a, NotificationStatus.PENDING, now - timedelta(minutes=30), 1)
    _notification(org.staff_a, NotificationStatus.PENDING, now - timedelta(minutes=5), 2)
    _notification(org.staff_b, NotificationStatus.FAILED, now - timedelta(days=2), 3)
    _notification(org.staff_b, NotificationStatus.SENT, now - timedelta(days=9), 4)
    db.session.commit()
    elector = LeaseElector(db.engine, ttl_seconds=60, holder="host-a:123")
    assert elector.tick(utcnow() - timedelta(seconds=12))

    response = client.get("/healthz", headers=health_token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["version"]
    assert body["database"]["ok"] is True and body["database"]["latency_ms"] >= 0
    assert body["database"]["backend"] == db.engine.dialect.name
    assert body["outbox"] == {"pending": 2, "sending": 0, "failed": 1, "oldest_pending_age_seconds": 1800.0}
    scheduler = body["scheduler"]
    assert scheduler["holder"] == "host-a:123" and scheduler["alive"] is True
    assert 11 <= scheduler["heartbeat_age_seconds"] < 60
    assert response.headers["Cache-Control"] == "no-store"
    assert "database" in client.get(f"/healthz?token={HEALTH_TOKEN}").get_json()


@pytest.mark.parametrize("headers, query", [
    ({"Authorization": "Bearer hc-wrong"}, ""),
    ({}, "?token=hc-wrong"),
    ({"Authorization": f"Bearer {HEALTH_TOKEN}x"}, ""),
    ({"Authorization": f"Basic {HEALTH_TOKEN}"}, ""),
])
def test_healthz_gives_no_details_for_a_wrong_token(app, client, org, health_token, headers, query):
    response = client.get("/healthz" + query, headers=headers)
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_token_unset_means_no_token_opens_the_details(app, client, org):
    assert not app.config.get("HEALTH_TOKEN")
    for query in ("?token=", "?token=None"):
        assert client.get("/healthz" + query).get_json() == {"status": "ok"}
    assert client.get("/healthz", headers={"Authorization": "Bearer "}).get_json() == {"status": "ok"}


@pytest.mark.parametrize("who, detailed", [("admin", True), ("mgr_root", False), ("staff_a", False),
                                           ("viewer_root", False)])
def test_healthz_details_for_a_logged_in_admin_only(app, org, login_as, who, detailed):
    body = login_as(org.users[who]).get("/healthz").get_json()
    assert ("database" in body and "scheduler" in body and "outbox" in body) is detailed
    assert body["status"] == "ok"


@pytest.mark.parametrize("who, detailed", [("admin", True), ("mgr_root", False), ("staff_a", False)])
def test_healthz_details_for_an_admins_api_token_only(app, client, org, clock, who, detailed):
    from tracker.auth import tokens

    _, raw = tokens.create_token(org.users[who], clock, name="monitor")
    db.session.commit()
    body = client.get("/healthz", headers={"Authorization": f"Bearer {raw}"}).get_json()
    assert ("database" in body) is detailed


def test_healthz_says_when_the_scheduler_is_gone(app, client, org, health_token):
    LeaseElector(db.engine, ttl_seconds=60, holder="host-b:9").tick(utcnow() - timedelta(minutes=10))
    scheduler = client.get("/healthz", headers=health_token).get_json()["scheduler"]
    assert scheduler["holder"] == "host-b:9" and scheduler["alive"] is False
    assert scheduler["heartbeat_age_seconds"] >= 600


def test_healthz_is_cheap(app, client, org, queries, health_token):
    with queries() as seen:
        assert client.get("/healthz").status_code == 200
    assert len(seen) == 1, seen  # up or down: one SELECT 1
    with queries() as seen:
        assert client.get("/healthz", headers=health_token).status_code == 200
    assert len(seen) <= 6, seen


def test_the_health_token_in_a_query_string_stays_out_of_the_access_log(app, client, org, health_token,
                                                                        log_lines):
    lines = log_lines("json")
    assert client.get(f"/healthz?token={HEALTH_TOKEN}&x=1").status_code == 200
    logged = "\n".join(lines())
    assert "/healthz" in logged and HEALTH_TOKEN not in logged


def test_healthz_answers_503_when_the_database_does_not(tmp_path):
    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "instance")
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "t", "HEALTH_TOKEN": HEALTH_TOKEN,
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.sqlite3'}"})
    finally:
        del os.environ["TRACKER_INSTANCE_PATH"]
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "down"}
    response = client.get("/healthz", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down" and body["database"]["ok"] is False
    assert "OperationalError" in body["error"]


# --- SQLite settings ------------------------------------------------------------------------------


def _sqlite_app(tmp_path, **config):
    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "instance")
    try:
        return create_app({"TESTING": True, "SECRET_KEY": "t",
                           "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}", **config})
    finally:
        del os.environ["TRACKER_INSTANCE_PATH"]


@pytest.fixture
def own_sqlite_settings():
    """Without the test suite's no-fsync hook, so the app's own connection settings show."""
    import sqlalchemy as sa
    from conftest import _no_fsync
    from sqlalchemy.engine import Engine

    sa.event.remove(Engine, "connect", _no_fsync)
    yield
    sa.event.listen(Engine, "connect", _no_fsync)


def test_a_sqlite_file_runs_in_wal_and_gets_planner_statistics(tmp_path, own_sqlite_settings):
    """The default SQLite settings: WAL, and a never-analysed file analysed on first connection."""
    import sqlalchemy as sa

    from tracker import sqlite as tracker_sqlite

    app = _sqlite_app(tmp_path)
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        db.create_all()
        db.engine.dispose()  # a new process would connect afresh: the tables exist, no statistics yet
        with db.engine.connect() as conn:
            stats = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            assert stats.scalar() == 1
            conn.exec_driver_sql("DELETE FROM sqlite_stat1")
            conn.exec_driver_sql("INSERT INTO categories (name, sort_order, active) VALUES ('x', 1, 1)")
            conn.commit()
        tracker_sqlite.optimize(db.engine)  # the nightly job analyses again
        with db.engine.connect() as conn:
            analysed = conn.execute(sa.text("SELECT count(*) FROM sqlite_stat1")).scalar()
            assert analysed > 0
            # Analysed while empty, then filled: the next process's first connection analyses again.
            columns = "problem_id, measure, type, owner_id, unit_id, deadline, state, version, created_at"
            conn.exec_driver_sql(f"INSERT INTO tasks ({columns}) VALUES "
                                 "(1, 'm', 'deadline', 1, 1, '2026-06-30', 'assigned', 1, '2026-06-01')")
            for _ in range(8):  # 256 rows
                conn.exec_driver_sql(f"INSERT INTO tasks ({columns}) SELECT {columns} FROM tasks")
            conn.commit()
        db.engine.dispose()
        with db.engine.connect() as conn:
            recorded = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = 'tasks'").first()
        assert recorded is not None and int(recorded[0].split()[0]) == 256


def test_sqlite_settings_are_checked(tmp_path, own_sqlite_settings):
    with pytest.raises(ValueError, match="SQLITE_JOURNAL_MODE"):
        _sqlite_app(tmp_path, SQLITE_JOURNAL_MODE="WAL; DROP TABLE users")
    app = _sqlite_app(tmp_path, SQLITE_JOURNAL_MODE="delete", SQLITE_SYNCHRONOUS="full")
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


# --- logs ----------------------------------------------------------------------------------------


@pytest.fixture
def log_lines():
    """configure(fmt) installs the app's handler on a buffer; returns a function reading the lines."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    buffer = io.StringIO()

    def install(fmt):
        ops_logging.configure(fmt, "INFO", stream=buffer)
        return lambda: buffer.getvalue().splitlines()

    yield install
    ops_logging.configure("none")
    root.handlers[:], root.level = saved


def test_json_logs_one_object_per_request_with_id_path_status_duration_and_user(app, client, org, log_lines):
    lines = log_lines("json")
    client.post("/login", data={"username": "staff_a", "password": PASSWORD})
    response = client.get("/tasks?state=assigned", headers={"X-Request-ID": "edge-42.a"})
    assert response.headers["X-Request-ID"] == "edge-42.a"
    records = [json.loads(line) for line in lines()]
    access = [r for r in records if r["logger"] == "tracker.access"]
    mine = next(r for r in access if r.get("request_id") == "edge-42.a")
    assert mine["level"] == "INFO" and mine["method"] == "GET" and mine["path"] == "/tasks"
    assert mine["status"] == 200 and mine["duration_ms"] >= 0 and mine["user_id"] == org.staff_a.id
    assert mine["message"] == "GET /tasks?state=assigned 200"
    assert mine["time"].endswith("+00:00")
    login = next(r for r in access if r["path"] == "/login")
    assert login["status"] == 302 and login["request_id"] != "edge-42.a"


def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(app, client, log_lines):
    lines = log_lines("json")
    first = client.get("/healthz").headers["X-Request-ID"]
    unsafe = {"X-Request-ID": "bad id <script>" + "x" * 80}
    second = client.get("/healthz", headers=unsafe).headers["X-Request-ID"]
    assert len(first) == 32 and len(second) == 32 and first != second
    ids = [json.loads(line).get("request_id") for line in lines()]
    assert first in ids and second in ids


def test_app_logs_inside_a_request_carry_its_id_and_text_format_is_one_line(app, client, log_lines):
    lines = log_lines("text")

    @app.route("/_log_probe")
    def probe():
        logging.getLogger("tracker.probe").warning("something odd: %s", "体")
        return "ok"

    response = client.get("/_log_probe", headers={"X-Request-ID": "rq-7"})
    logged = lines()
    assert any(" WARNING tracker.probe [rq-7] something odd: 体" in line for line in logged)
    assert any(" INFO tracker.access [rq-7] GET /_log_probe 200" in line for line in logged)
    assert response.headers["X-Request-ID"] == "rq-7"


def test_a_log_line_after_the_requests_session_ended_neither_fails_nor_queries(app, org, log_lines, queries):
    """A server logs while it writes a streamed body: the request context is back, its session is not."""
    from flask import g
    from flask_login import AnonymousUserMixin

    from tracker.org.models import User

    lines = log_lines("json")
    user_id = org.staff_a.id
    user = db.session.get(User, user_id)
    db.session.commit()  # the request's end: every loaded object expires…
    db.session.expunge(user)  # …and its session is gone
    with app.test_request_context("/tasks.csv"), queries() as statements:
        g._login_user = user
        logging.getLogger("werkzeug").info("GET /tasks.csv 200")
        g._login_user = AnonymousUserMixin()
        logging.getLogger("werkzeug").info("anonymous")
        g.pop("_login_user")
    first, second = (json.loads(line) for line in lines()[-2:])
    assert first["user_id"] == user_id and first["path"] == "/tasks.csv"
    assert "user_id" not in second and second["message"] == "anonymous"
    assert statements == []


def test_exceptions_are_logged_as_json_with_the_traceback(log_lines):
    lines = log_lines("json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tracker.jobs").exception("job failed")
    record = json.loads(lines()[-1])
    assert record["level"] == "ERROR" and record["message"] == "job failed"
    assert "ValueError: boom" in record["exception"] and "request_id" not in record


def test_log_settings_come_from_the_environment(monkeypatch):
    from tracker.config import from_environment

    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    assert from_environment()["LOG_FORMAT"] == "json" and from_environment()["LOG_LEVEL"] == "warning"


def test_outside_tests_the_app_installs_the_configured_handler(tmp_path, monkeypatch):
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path))
    try:
        create_app({"SECRET_KEY": "t", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                    "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"})
        ours = [h for h in root.handlers if getattr(h, "tracker_ops", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, ops_logging.JsonFormatter)
        assert root.level == logging.WARNING
    finally:
        ops_logging.configure("none")
        root.handlers[:], root.level = saved
