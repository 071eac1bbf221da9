"""Two "hosts" run from docs/deploy.md: one PostgreSQL database, one S3 bucket, one Redis, one SMTP server.

PostgreSQL only: skipped, saying why, without TRACKER_TEST_POSTGRES_URL. It never asks for the `app`
fixture, so there is no SQLite variant of it. Each run creates its own databases on the server of
TRACKER_TEST_POSTGRES_URL (`test_twohosts_<id>`, and `…_restored` for the restore) and drops them.

Each host (tests/two_hosts_support.py) has its own instance folder, settings file and port, so nothing
can pass between them through the disk; they are not in network namespaces of their own: that would
need veth pairs into the machine's namespace and PostgreSQL, Redis, the S3 server and the SMTP server
listening beyond loopback, i.e. changing the shared machine's network. The hosts are started the way
the guide says: its settings file (with this run's addresses and secrets, plus the short scheduler
periods and low login limit of TEST_ONLY), its `ExecStart` lines, its commands in the checkout with the
settings file sourced. Along the guide: `db upgrade`, `create-user`, a local installation's files moved
into the bucket with `storage migrate`, `storage check`; then both web hosts and

  a. evidence uploaded through A's task page downloads byte-identical through B, from the bucket: no copy
     in either host's folders;
  b. failed logins alternated between A and B meet the limit at the configured count in all;
  c. a unit renamed on A's admin pages shows at once in B's cached pick list;
  d. two `flask scheduler` services, one per host: one holds the lock, it is killed with SIGKILL while
     it sends, the other takes over, and every reminder in the outbox reaches the SMTP server, none
     lost. One repeat is allowed, only of a message the killed process had claimed (its id in the
     outbox row it left `sending`): the documented window between the server's 250 and the "sent"
     commit. The slow server answers MAIL FROM late, not DATA, so that window stays narrow;
  e. `backup` on B and `restore` into a new database and bucket; the health checks.

NOW is pinned in both instance folders' config.py (a Wednesday: no weekly digest), so the reminders
due are the same on every run. The throughput and worker memory of a 20 MB file up through A and down
through B are printed and written to tests/artifacts/two_hosts.json; benchmarks/storage_throughput.py
measures the same for local folders against S3 on one host.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, PG_URL, Factory
from live_gunicorn import hidden_inputs, multipart
from two_hosts_support import (
    CHECKOUT,
    SETTINGS_FILE,
    Host,
    SMTPServer,
    block,
    commands,
    redis_up,
    settings,
    unit,
)

from tracker import create_app
from tracker.clock import Clock
from tracker.config import ENV_SETTINGS
from tracker.enums import Role

NOW = "2026-06-17T10:00:00"
TODAY = date(2026, 6, 17)
LOGIN_LIMIT = 5
SMTP_DELAY = 0.1  # seconds before each MAIL FROM is answered
KILL_AFTER = 10  # messages of the overdue batch received before the leader is killed
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# The guide's commands, each run below; test_the_guide_is_what_the_two_host_test_runs keeps the two equal.
DB_UPGRADE = ".venv/bin/flask --app tracker db upgrade"
CREATE_ADMIN = '.venv/bin/flask --app tracker create-user admin --password "$ADMIN_PASSWORD" --role admin'
STORAGE_CHECK = ".venv/bin/flask --app tracker storage check"
MIGRATE_DRY_RUN = ".venv/bin/flask --app tracker storage migrate --to s3 --dry-run"
MIGRATE = ".venv/bin/flask --app tracker storage migrate --to s3"
BACKUP = ".venv/bin/flask --app tracker backup /var/backups/tracker/tracker-$(date +%F).zip"
RESTORE = '.venv/bin/flask --app tracker restore "$BACKUP"'
HEALTH = "curl -fsS http://127.0.0.1:8000/healthz"
HEALTH_DETAILS = 'curl -fsS -H "Authorization: Bearer $HEALTH_TOKEN" http://127.0.0.1:8000/healthz'
GUIDE_COMMANDS = (DB_UPGRADE, CREATE_ADMIN, STORAGE_CHECK, MIGRATE_DRY_RUN, MIGRATE, BACKUP, RESTORE, HEALTH,
                  HEALTH_DETAILS)
WEB_UNIT = "/etc/systemd/system/tracker-web.service"
SCHEDULER_UNIT = "/etc/systemd/system/tracker-scheduler.service"
WEB_EXEC = ("/srv/tracker/.venv/bin/gunicorn --workers 4 --bind 0.0.0.0:8000 --timeout 120 "
            "--graceful-timeout 30 'tracker:create_app()'")
SCHEDULER_EXEC = "/srv/tracker/.venv/bin/flask --app tracker scheduler"
NGINX = "/etc/nginx/conf.d/tracker.conf"
# The guide's settings this run replaces with its own (each must be in the guide's file) …
REPLACED = ("DATABASE_URL", "SECRET_KEY", "TRACKER_INSTANCE_PATH", "S3_ENDPOINT_URL", "S3_BUCKET",
            "S3_ACCESS_KEY", "S3_SECRET_KEY", "RATELIMIT_STORAGE_URI", "RATELIMIT_KEY_PREFIX", "MAIL_SERVER",
            "MAIL_PORT", "HEALTH_TOKEN")
# … and what it adds: a low login limit, and scheduler periods of seconds instead of minutes.
TEST_ONLY = {"LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT}/minute", "RATELIMIT_ENABLED": "1",
             "SCHEDULER_TICK_SECONDS": "1", "SCHEDULER_LEASE_SECONDS": "3", "REMINDER_INTERVAL_SECONDS": "2",
             "OUTBOX_FLUSH_SECONDS": "1", "OUTBOX_SENDING_TIMEOUT_SECONDS": "3"}
ADVISORY_KEY = 0x7472_6B72  # tracker.reminders.leader.ADVISORY_KEY


# --- the guide, read without a database (runs everywhere) -----------------------------------------


def test_the_guide_is_what_the_two_host_test_runs():
    """Every flask, gunicorn and curl line of docs/deploy.md is one the two-host test runs, and the
    systemd units start exactly what it starts; the settings file names only real settings."""
    assert commands() == list(GUIDE_COMMANDS)
    for path, exec_start in ((WEB_UNIT, WEB_EXEC), (SCHEDULER_UNIT, SCHEDULER_EXEC)):
        found = unit(block(path).text)
        assert found["ExecStart"] == exec_start, path
        assert found["WorkingDirectory"] == CHECKOUT and found["EnvironmentFile"] == SETTINGS_FILE, path
    values = settings(block(SETTINGS_FILE).text)
    assert set(values) - set(ENV_SETTINGS) - {"TRACKER_INSTANCE_PATH"} == set()
    assert set(REPLACED) <= set(values)
    assert values["EVIDENCE_STORAGE"] == "s3" and values["PROXY_FIX_X_FOR"] == "1"
    assert values["SCHEDULER_ENABLED"] == "0"  # the scheduler is its own service
    assert set(TEST_ONLY) <= set(ENV_SETTINGS) and not set(TEST_ONLY) & set(values)


def test_the_nginx_sample_fits_the_app(tmp_path, monkeypatch):
    conf = block(NGINX).text
    upload_mb = int(settings(block(SETTINGS_FILE).text)["UPLOAD_MAX_MB"])
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "UPLOAD_MAX_MB": upload_mb, "DATABASE_URL": "sqlite://"})
    body_mb = int(re.search(r"client_max_body_size (\d+)m;", conf)[1])
    assert body_mb * 1024 * 1024 == app.config["MAX_CONTENT_LENGTH"]  # the app's own request limit
    for header in ("Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme",
                   "X-Forwarded-Host $host"):
        assert f"proxy_set_header {header};" in conf
    gunicorn_timeout = int(re.search(r"--timeout (\d+)", WEB_EXEC)[1])
    assert int(re.search(r"proxy_read_timeout (\d+)s;", conf)[1]) >= gunicorn_timeout
    assert len(re.findall(r"^\s+server \S+:8000\b", conf, re.M)) >= 2  # several hosts upstream


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed: the sample config's "
                                                        "`nginx -t` is skipped (the other checks ran)")
@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl to make a certificate for nginx -t")
def test_the_nginx_sample_passes_nginx_t(tmp_path):
    """The guide's server blocks inside a minimal nginx.conf, with a throw-away certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=tracker.example.org", "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True)
    conf = block(NGINX).text.replace("/etc/ssl/tracker/fullchain.pem", str(cert))
    (tmp_path / "tracker.conf").write_text(conf.replace("/etc/ssl/tracker/privkey.pem", str(key)))
    temp = "".join(f" {kind}_temp_path {tmp_path}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n{temp} include {tmp_path}/tracker.conf;\n}}\n")
    done = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the two hosts --------------------------------------------------------------------------------


class Run:
    """What the phases share: the hosts, the database, the bucket, the mail server, what ran, figures."""

    def __init__(self, url, hosts, s3, bucket, smtp, base):
        self.url, self.hosts, self.s3, self.bucket, self.smtp, self.base = url, hosts, s3, bucket, smtp, base
        self.a, self.b = hosts
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.ran: list[str] = []
        self.figures: dict = {}
        self.phase_started = time.monotonic()
        self.app = None
        self.pool = ThreadPoolExecutor(2)  # commands that need not wait for each other

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def value(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def phase(self, name: str) -> None:
        now = time.monotonic()
        self.figures.setdefault("seconds", {})[name] = round(now - self.phase_started, 1)
        self.phase_started = now

    def object_sha256(self, bucket: str, stored_name: str) -> str:
        found = self.s3.head_object(Bucket=bucket, Key=f"evidence/{stored_name}")
        return found["Metadata"]["sha256"]


def _create_databases(names: list[str]) -> None:
    admin = sa.create_engine(sa.make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _drop_databases(names: list[str]) -> None:
    admin = sa.create_engine(sa.make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def deployment(s3_endpoint: str, base: Path):
    """Databases, bucket settings, the mail server and two hosts' folders; everything stopped and dropped
    at the end, each host's logs printed (pytest shows them when the test fails)."""
    import boto3

    name = f"test_twohosts_{uuid.uuid4().hex[:10]}"
    databases = [name, f"{name}_restored"]
    _create_databases(databases)
    url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    guide = settings(block(SETTINGS_FILE).text)
    bucket = f"twohosts-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="tracker-test", aws_secret_access_key="tracker-test-secret")
    hosts: list[Host] = []
    run = None
    try:
        with SMTPServer(SMTP_DELAY) as smtp:
            values = {**guide, "DATABASE_URL": url, "SECRET_KEY": uuid.uuid4().hex,
                      "S3_ENDPOINT_URL": s3_endpoint, "S3_BUCKET": bucket, "S3_ACCESS_KEY": "tracker-test",
                      "S3_SECRET_KEY": "tracker-test-secret", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
                      "RATELIMIT_KEY_PREFIX": f"twohosts-{uuid.uuid4().hex[:8]}", "MAIL_SERVER": "127.0.0.1",
                      "MAIL_PORT": str(smtp.port), "HEALTH_TOKEN": uuid.uuid4().hex, **TEST_ONLY}
            backups = base / "backups"
            backups.mkdir()
            for host_name in ("a", "b"):
                host = Host(host_name, base, values, backups)
                # NOW comes from instance/config.py only (README); the same on both hosts.
                (host.instance / "config.py").write_text(f"NOW = {NOW!r}\n", encoding="utf-8")
                hosts.append(host)
            run = Run(url, hosts, s3, bucket, smtp, base)
            yield run
    finally:
        for host in hosts:
            host.stop()
        if run is not None:
            run.pool.shutdown(wait=True, cancel_futures=True)
            if run.app is not None:
                from tracker.extensions import db

                with run.app.app_context():
                    db.engine.dispose()
            run.engine.dispose()
        _drop_databases(databases)
        for host in hosts:
            for log in ("web.log", "scheduler.log"):
                print(f"--- host {host.name}: {log} ---\n{host.log(log)}")


@pytest.mark.skipif(not PG_URL, reason="two hosts share one PostgreSQL database: set "
                                       "TRACKER_TEST_POSTGRES_URL (SQLite cannot be shared between hosts)")
def test_two_hosts_share_the_database_bucket_limits_and_one_scheduler(s3_server, tmp_path):
    if not redis_up():
        pytest.skip("no Redis answers on 127.0.0.1:6379 (the hosts' RATELIMIT_STORAGE_URI)")
    with deployment(s3_server, tmp_path) as run:
        old = _install(run)
        run.phase("install: db upgrade, create-user, storage migrate and check, two web hosts")
        _evidence_crosses_hosts(run, old)
        run.phase("a: 20 MB up through A, down through B")
        _login_limit_is_shared(run)
        run.phase("b: login limit across hosts")
        _rename_shows_on_the_other_host(run)
        run.phase("c: rename on A, seen on B")
        restored = run.pool.submit(_empty_database_for_the_restore, run)
        _one_scheduler_survives_a_kill(run)
        run.phase("d: two schedulers, the leader killed")
        _backup_restore_and_health(run, restored.result())
        run.phase("e: backup, restore, health")
        for host in run.hosts:
            assert host.trouble() == [], f"host {host.name} logged a traceback:\n{host.log('web.log')}"
        services = {unit(block(path).text)["ExecStart"] for path in (WEB_UNIT, SCHEDULER_UNIT)}
        assert set(run.ran) == {*commands(), *services}, "a line of docs/deploy.md was not run"
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "two_hosts.json").write_text(json.dumps(run.figures, indent=1, ensure_ascii=False))
        print(json.dumps(run.figures, indent=1, ensure_ascii=False))


# --- install: the guide's first steps -------------------------------------------------------------


def _install(run: Run) -> bytes:
    """The database migrated and the admin created by the guide's commands; an organisation with a
    measure whose evidence an older, local installation kept in A's instance/uploads; its files moved to
    the bucket with `storage migrate` and checked; both web hosts started from the guide's unit."""
    a, b = run.a, run.b
    a.write(EVIDENCE_STORAGE="local")  # the installation before the move
    a.run(DB_UPGRADE, run.ran)
    admin = run.pool.submit(a.run, CREATE_ADMIN, run.ran, ADMIN_PASSWORD=PASSWORD)  # while we seed

    os.environ["TRACKER_INSTANCE_PATH"] = str(a.instance)
    try:
        run.app = create_app({"TESTING": True, "SECRET_KEY": "in-process", "DATABASE_URL": run.url,
                              "NOW": NOW, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                              "EVIDENCE_STORAGE": "local"})
    finally:
        del os.environ["TRACKER_INSTANCE_PATH"]
    old = b"%PDF-1.4\n" + os.urandom(300_000)
    with run.app.app_context():
        from tracker.extensions import db
        from tracker.tasks import services as tasks
        from tracker.tasks.evidence import Upload

        make = Factory(Clock.parse(NOW))
        root = make.unit("ROOT", "某局党委")
        unit_a = make.unit("A", "第一党支部", parent=root)
        mgr_root = make.user("mgr_root", Role.MANAGER, root, name="局长")
        staff_a = make.user("staff_a", Role.STAFF, unit_a, name="张三")
        task = make.task(mgr_root, owner=staff_a, measure="建立健全学习制度", unit=unit_a)
        tasks.post_progress(task, staff_a, make.clock, body="旧台账",
                            uploads=[Upload("旧台账.pdf", io.BytesIO(old), "application/pdf")])
        db.session.commit()
        run.ids = {"root": root.id, "a": unit_a.id, "task": task.id}
    assert len(list((a.instance / "uploads").iterdir())) == 1
    admin.result()

    (old_name,) = [p.name for p in (a.instance / "uploads").iterdir()]
    run.s3.create_bucket(Bucket=run.bucket)  # what the store's own tool does (MinIO: mc mb)
    assert old_name in a.run(MIGRATE_DRY_RUN, run.ran)
    assert run.s3.list_objects_v2(Bucket=run.bucket)["KeyCount"] == 0  # a dry run writes nothing
    a.run(MIGRATE, run.ran)
    assert run.object_sha256(run.bucket, old_name) == hashlib.sha256(old).hexdigest()
    a.write(EVIDENCE_STORAGE="s3")  # the guide's value, as in B's file
    assert b.values == {**a.values, "TRACKER_INSTANCE_PATH": str(b.instance)}
    exec_start = unit(block(WEB_UNIT).text)["ExecStart"]
    for host in (a, b):
        host.start_web(exec_start)
    run.ran.append(exec_start)
    checked = a.run(STORAGE_CHECK, run.ran)  # while the hosts boot
    assert f"s3://{run.bucket}" in checked, checked  # the bucket, found whole (else it exits non-zero)
    for host in (a, b):
        host.wait_web()
        assert len(host.workers()) == 2
    return old


# --- a. evidence ------------------------------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _rss(run: Run, host: Host) -> dict:
    return {str(pid): kib for pid, kib in host.rss().items()}


def _evidence_crosses_hosts(run: Run, old: bytes) -> None:
    a, b = run.a, run.b
    data = b"%PDF-1.4\n" + os.urandom(20 * 1024 * 1024 - 64)
    mb = len(data) / 1024 / 1024
    browser = a.client().login("staff_a", PASSWORD)
    page = browser.get(f"/tasks/{run.ids['task']}")
    fields = {**hidden_inputs(page.text, "form-progress"), "progress-body": "已召开专题会议"}
    body, content_type = multipart(fields, [("progress-files", "整改报告.pdf", data)])
    old_id = run.value("SELECT id FROM evidence WHERE task_id = :t", t=run.ids["task"])
    for host in (a, b):  # the workers import boto3 (~25 MB each) before anything is measured
        warm = host.client()
        warm.cookies = browser.cookies
        for _ in range(4):
            assert warm.get(f"/evidence/{old_id}").body == old
    rss_a = _rss(run, a)
    started = time.perf_counter()
    posted = browser.request("POST", f"/tasks/{run.ids['task']}/progress", body,
                             {"Content-Type": content_type})
    up = time.perf_counter() - started
    rss_a_after = _rss(run, a)
    assert posted.status == 302, posted.text[:2000]
    (evidence_id, stored_name, sha), (_, old_name, old_sha) = run.rows(
        "SELECT id, stored_name, sha256 FROM evidence WHERE task_id = :t ORDER BY (filename = '旧台账.pdf')",
        t=run.ids["task"])
    assert sha == hashlib.sha256(data).hexdigest() and run.object_sha256(run.bucket, stored_name) == sha

    # The same browser behind a balancer that sent it to B: one SECRET_KEY, the same login.
    elsewhere = b.client()
    elsewhere.cookies = browser.cookies
    rss_b = _rss(run, b)
    started = time.perf_counter()
    got = elsewhere.get(f"/evidence/{evidence_id}")
    down = time.perf_counter() - started
    rss_b_after = _rss(run, b)
    assert got.status == 200 and got.body == data
    manager = b.client().login("mgr_root", PASSWORD)
    assert manager.get(f"/evidence/{evidence_id}").body == data
    assert manager.get(f"/evidence/{old_id}").body == old  # moved by `storage migrate`, never on B

    on_b = _files(b.dir)
    assert all(p.stat().st_size not in (len(data), len(old)) for p in on_b), on_b
    # A keeps the old installation's copy (migrate without --delete-source) and nothing of the new file.
    assert [p.name for p in _files(a.instance) if p.stat().st_size == len(old)] == [old_name]
    assert all(p.stat().st_size != len(data) for p in _files(a.dir))
    assert not any((host.instance / "scratch").exists() and any((host.instance / "scratch").iterdir())
                   for host in (a, b))
    run.figures["20 MB through S3"] = {
        "upload through A": {"seconds": round(up, 2), "MB/s": round(mb / up, 1),
                             "worker KiB before": rss_a, "worker KiB after": rss_a_after},
        "download through B": {"seconds": round(down, 2), "MB/s": round(mb / down, 1),
                               "worker KiB before": rss_b, "worker KiB after": rss_b_after},
    }
    run.evidence = {evidence_id: sha, old_id: old_sha}


# --- b. login limit -------------------------------------------------------------------------------


def _login(host: Host, username: str, password: str, address: str | None) -> int:
    """One login attempt through the form, from `address` as the proxy reports it (PROXY_FIX_X_FOR=1)."""
    client = host.client()
    extra = {"X-Forwarded-For": address} if address else {}
    page = client.request("GET", "/login", headers=extra)
    token = hidden_inputs(page.text).get("csrf_token", "") if page.status == 200 else ""
    form = urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    return client.request("POST", "/login", form,
                          {"Content-Type": "application/x-www-form-urlencoded", **extra}).status


def _login_limit_is_shared(run: Run) -> None:
    import redis

    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    hosts = [run.a, run.b] * 4
    statuses = [_login(host, "staff_a", "wrong-password", address) for host in hosts[:LOGIN_LIMIT + 2]]
    assert statuses == [200] * LOGIN_LIMIT + [429, 429], statuses  # 5 in all, not 5 per host
    assert _login(run.b, "staff_a", PASSWORD, address) == 429  # the right password too, from there
    assert _login(run.a, "staff_a", PASSWORD, None) == 302  # another address is not limited
    prefix = run.a.values["RATELIMIT_KEY_PREFIX"]
    store = redis.Redis.from_url(run.a.values["RATELIMIT_STORAGE_URI"])
    counted = [key.decode() for key in store.scan_iter(f"*/{prefix}/{address}/*")]
    assert [int(store.get(key)) for key in counted] == [LOGIN_LIMIT + 3], counted  # one count, all attempts
    store.close()


# --- c. rename -----------------------------------------------------------------------------------


def _unit_option(html: str, unit_id: int) -> str:
    """The label of a unit in the list's unit filter (a pick list cached per worker behind the stamp)."""
    select = re.search(r'<select[^>]*name="unit"[^>]*>(.*?)</select>', html, re.S)[1]
    return re.search(rf'<option value="{unit_id}"[^>]*>([^<]*)</option>', select)[1]


def _rename_shows_on_the_other_host(run: Run) -> None:
    assert run.value("SELECT stamp FROM reference_stamp WHERE id = 1"), "no stamp: nothing would be cached"
    viewer = run.b.client().login("mgr_root", PASSWORD)
    for _ in range(6):  # fresh connections: both of B's workers cache the list
        assert _unit_option(viewer.get("/tasks").text, run.ids["a"]).endswith("第一党支部")
    admin = run.a.client().login("admin", PASSWORD)
    form = admin.get(f"/admin/units/{run.ids['a']}/edit")
    renamed = admin.post(f"/admin/units/{run.ids['a']}/edit", {
        **hidden_inputs(form.text, "admin-form"), "code": "A", "name": "第一党总支",
        "parent": run.ids["root"], "sort_order": 0})
    assert renamed.status == 302, renamed.text[:2000]
    for _ in range(6):
        assert _unit_option(viewer.get("/tasks").text, run.ids["a"]).endswith("第一党总支")


# --- d. one scheduler ----------------------------------------------------------------------------


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def _holder(run: Run) -> str:
    return run.value("SELECT holder FROM scheduler_lease WHERE name = 'reminders'") or ""


def _lock_holders(run: Run) -> int:
    return run.value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :key "
                     "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                     key=ADVISORY_KEY)


def _overdue_measures(run: Run) -> None:
    """Eight measures assigned two weeks ago, ten days overdue, never signed for: each owes reminders and
    escalations to its owner, the unit's manager and the problem's leader."""
    with run.app.app_context():
        from tracker.extensions import db
        from tracker.org.models import Unit

        past = Clock.parse("2026-06-03T10:00:00")
        make = Factory(past)
        make._n = 100  # names and addresses apart from the first phase's
        unit_d = make.unit("D", "督查组", parent=db.session.get(Unit, run.ids["root"]))
        manager = make.user("mgr_d", Role.MANAGER, unit_d, name="组长")
        leader = make.user("leader_d", Role.VIEWER, unit_d, name="分管领导")
        owners = [make.user(f"staff_d{n}", Role.STAFF, unit_d, name=f"组员{n}") for n in range(4)]
        problem = make.problem(manager, responsible_leader=leader)
        for n in range(8):
            make.task(manager, problem, owner=owners[n % 4], measure=f"限期整改{n}",
                      deadline=past.today() + timedelta(days=4))
        db.session.commit()


def _one_scheduler_survives_a_kill(run: Run) -> None:
    a, b, inbox = run.a, run.b, run.smtp.inbox
    exec_start = unit(block(SCHEDULER_UNIT).text)["ExecStart"]
    for host in (a, b):
        host.start_scheduler(exec_start)
    run.ran.append(exec_start)
    _wait(lambda: all("started" in host.log("scheduler.log") for host in (a, b)), 30, "both schedulers up")
    holder = _wait(lambda: _holder(run), 30, "a scheduler leads")
    time.sleep(1.5)  # a few ticks of both: the other stands by
    assert _holder(run) == holder and _lock_holders(run) == 1
    assert [f":{host.scheduler.pid}:" in holder for host in (a, b)].count(True) == 1, holder
    _wait(lambda: not run.value("SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')"),
          30, "the earlier phases' notices sent")

    before = inbox.count()
    _overdue_measures(run)
    _wait(lambda: inbox.count() >= before + KILL_AFTER, 30, "the leader sends the overdue batch")
    leader, survivor = (a, b) if f":{a.scheduler.pid}:" in _holder(run) else (b, a)
    os.kill(leader.scheduler.pid, signal.SIGKILL)
    leader.scheduler.wait(10)
    at_kill = inbox.count()
    # What the dead process had claimed: the only ids that may arrive twice (its last message's 250
    # may have come before its "sent" commit).
    claimed = {r[0] for r in run.rows(
        "SELECT id FROM notifications WHERE status = 'sending' AND claimed_by LIKE :p",
        p=f"%:{leader.scheduler.pid}:%")}
    left = run.value("SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')")
    assert left > 0, "the leader had sent everything before the kill: not mid-way"

    _wait(lambda: f":{survivor.scheduler.pid}:" in _holder(run), 15, "the survivor takes the lock")
    _wait(lambda: not run.value("SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')"),
          45, "the survivor sends the rest")
    time.sleep(0.5)  # the last SMTP session closes
    assert _lock_holders(run) == 1 and survivor.scheduler.poll() is None

    rows = run.rows("SELECT id, status, delivery_note FROM notifications")
    assert {r.status for r in rows} == {"sent"}, sorted((r.id, r.status, r.delivery_note) for r in rows)
    mailed = {r.id for r in rows if r.delivery_note == "smtp"}
    received = inbox.received()
    assert mailed - set(received) == set(), "lost"
    assert set(received) - mailed == set(), "received what the outbox did not send by mail"
    repeats = {nid: n for nid, n in received.items() if n > 1}
    assert not repeats or (len(repeats) == 1 and set(repeats.values()) == {2} and set(repeats) <= claimed), (
        f"repeated {repeats}; the killed process had claimed {sorted(claimed)}")
    run.figures["scheduler"] = {
        "reminders mailed": len(mailed), "received before the kill": at_kill,
        "left pending or claimed at the kill": left, "claimed by the killed process": len(claimed),
        "repeated (documented window)": repeats, "killed": leader.name, "took over": survivor.name}
    log = survivor.log("scheduler.log")
    assert "Traceback" not in log, log
    run.survivor = survivor


# --- e. backup, restore, health ------------------------------------------------------------------


def _empty_database_for_the_restore(run: Run) -> Host:
    """Disaster recovery: a new database and a new, empty bucket (made while the schedulers run)."""
    b = run.b
    restored = Host("restored", run.base, {**b.values, "DATABASE_URL": run.url + "_restored",
                                           "S3_BUCKET": f"{run.bucket}-restored"}, b.backups)
    run.s3.create_bucket(Bucket=restored.values["S3_BUCKET"])
    restored.run(DB_UPGRADE, run.ran)
    return restored


def _backup_restore_and_health(run: Run, restored: Host) -> None:
    b = run.b
    assert json.loads(b.run(HEALTH, run.ran)) == {"status": "ok"}
    details = json.loads(b.run(HEALTH_DETAILS, run.ran))
    assert f":{run.survivor.scheduler.pid}:" in details["scheduler"]["holder"]
    assert details["scheduler"]["alive"] is True and details["outbox"]["pending"] == 0
    assert details["database"]["backend"] == "postgresql"

    out = b.run(BACKUP, run.ran)
    (archive,) = list((run.base / "backups").glob("tracker-*.zip"))
    assert "2 files" in out, out  # both evidence files, read from the bucket

    out = restored.run(RESTORE, run.ran, BACKUP=str(archive))
    assert "2 files" in out, out
    source, copy = _contents(run.url), _contents(run.url + "_restored")
    assert copy == source
    assert {i: sha for i, (_, sha) in copy["evidence"].items()} == run.evidence
    for stored_name, sha in copy["evidence"].values():  # into the new bucket, whole
        assert run.object_sha256(restored.values["S3_BUCKET"], stored_name) == sha
    assert archive.stat().st_size > 20 * 1024 * 1024


def _contents(url: str) -> dict:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = {"notifications": conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar(),
                 "evidence": {i: (name, sha) for i, name, sha in conn.execute(
                     sa.text("SELECT id, stored_name, sha256 FROM evidence"))}}
    engine.dispose()
    return found
