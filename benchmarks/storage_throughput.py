"""Evidence up and down through `gunicorn -w 2`: local folders against an S3 store, MB/s and worker memory.

    .venv/bin/python -m benchmarks.storage_throughput [--mb 20] [--repeat 3] [--endpoint URL]

One SQLite database (migrated with `flask db upgrade`, a manager and a staff member with one measure),
served once with EVIDENCE_STORAGE=local and once with EVIDENCE_STORAGE=s3. The S3 store is moto's
standalone server started here on 127.0.0.1 (from the package registry, as the tests use it), or the
store at --endpoint (credentials from S3_ACCESS_KEY / S3_SECRET_KEY). For each: the staff member posts
progress with an --mb file through the task page's form (the time until the redirect: the body parsed,
spooled, hashed and stored), then downloads it (the time until the last byte), --repeat times; the
figures are the medians. Before the timed runs a small file goes up and down a few times so both
workers have imported their store's client (boto3 costs ~25 MB a worker on first use, once). Memory:
each worker's VmRSS and VmHWM (peak) from /proc before and after the timed runs; the peak's growth is
what streaming the file cost. Everything stays on loopback; moto keeps objects in memory and is
slower than a real store.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "bench-storage-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Cookies, one connection per request, no redirects followed."""

    def __init__(self, port: int):
        self.port, self.cookies = port, SimpleCookie()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = HTTPConnection("127.0.0.1", self.port, timeout=300)
        head = dict(headers or {})
        if self.cookies:
            head["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        conn.request(method, path, body=body, headers=head)
        response = conn.getresponse()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(value)
        data = response.read()
        conn.close()
        return response.status, data

    def csrf(self, path: str) -> str:
        status, body = self.request("GET", path)
        return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)[1].decode()

    def login(self, username: str) -> None:
        form = urlencode({"csrf_token": self.csrf("/login"), "username": username, "password": PASSWORD})
        status, _ = self.request("POST", "/login", form.encode(),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, status


def multipart(fields: dict, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="progress-files"; filename="{name}"'
            "\r\nContent-Type: application/pdf\r\n\r\n")
    parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def memory(pids: list[int]) -> dict[int, tuple[int, int]]:
    """(VmRSS, VmHWM) in MiB per worker."""
    found = {}
    for pid in pids:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        found[pid] = tuple(round(int(status[k].split()[0]) / 1024) for k in ("VmRSS", "VmHWM"))
    return found


def seed(env: dict) -> int:
    """Migrate the database and add a manager, a staff member and one measure; the measure's id."""
    subprocess.run([str(BIN / "flask"), "--app", "tracker", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    script = f"""
from datetime import date, timedelta
import sqlalchemy as sa
from tracker import create_app
from tracker.clock import current_clock
from tracker.enums import Role, SourceKind, TaskType
from tracker.extensions import db
from tracker.org import services as org
from tracker.problems import services as problems
from tracker.problems.models import Category, Source
from tracker.tasks import services as tasks
app = create_app()
with app.app_context():
    clock = current_clock()
    unit = org.save_unit(None, clock, code="ST", name="存储测试", parent=None)
    boss = org.save_user(None, clock, username="st_manager", name="经理", role=Role.MANAGER, unit=unit,
                         password={PASSWORD!r}, email=None, password_policy=False)
    staff = org.save_user(None, clock, username="st_staff", name="员工", role=Role.STAFF, unit=unit,
                          password={PASSWORD!r}, email=None, password_policy=False)
    source = Source(name="存储测试", kind=SourceKind.SELF_INSPECTION, unit_id=unit.id, held_on=clock.today())
    db.session.add(source)
    db.session.flush()
    problem = problems.create_problem(boss, clock, description="存储测试", source=source, unit=unit,
                                      lead_unit=unit, found_on=clock.today(),
                                      category=db.session.scalars(sa.select(Category)).first())
    task = tasks.create_task(problem, boss, clock, measure="存储测试", owner=staff, unit=unit,
                             deadline=clock.today() + timedelta(days=30), type=TaskType.DEADLINE)
    db.session.commit()
    print(task.id)
"""
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, capture_output=True,
                          text=True)
    return int(done.stdout.split()[-1])


def serve(env: dict, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                                 "--timeout", "300", "tracker:create_app()"], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Browser(port).request("GET", "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn did not start; see {log}")


def measure(kind: str, env: dict, task_id: int, size_mb: int, repeat: int, log: Path) -> dict:
    proc, port = serve(env, log)
    try:
        workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        browser = Browser(port)
        browser.login("st_staff")
        page = f"/tasks/{task_id}"

        def upload(data: bytes) -> tuple[float, int]:
            body, content_type = multipart({"csrf_token": browser.csrf(page), "progress-body": "进展"},
                                           "佐证.pdf", data)
            started = time.perf_counter()
            status, _ = browser.request("POST", f"{page}/progress", body, {"Content-Type": content_type})
            took = time.perf_counter() - started
            assert status == 302, status
            _, html = browser.request("GET", page)
            return took, max(int(n) for n in re.findall(rb"/evidence/(\d+)", html))

        def download(evidence_id: int, data: bytes) -> float:
            started = time.perf_counter()
            status, body = browser.request("GET", f"/evidence/{evidence_id}")
            took = time.perf_counter() - started
            assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
            return took

        small = b"%PDF-1.4\n" + os.urandom(100_000)
        _, small_id = upload(small)
        for _ in range(6):  # both workers import their store's client before anything is timed
            upload(small)
            download(small_id, small)
        before = memory(workers)
        ups, downs = [], []
        for _ in range(repeat):
            data = b"%PDF-1.4\n" + os.urandom(size_mb * 1024 * 1024 - 64)
            took, evidence_id = upload(data)
            ups.append(took)
            downs.append(download(evidence_id, data))
        after = memory(workers)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"kind": kind, "up": size_mb / statistics.median(ups), "down": size_mb / statistics.median(downs),
            "before": before, "after": after}


def moto(port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"moto did not start; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=20, help="file size in MB (UPLOAD_MAX_MB follows it)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--endpoint", default=None, help="an S3 store's URL instead of moto")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tracker-storage-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TRACKER_", "S3_"))}
    base.update(DATABASE_URL=f"sqlite:///{work / 'storage.sqlite3'}", SECRET_KEY="bench",
                SCHEDULER_ENABLED="0", UPLOAD_MAX_MB=str(args.mb), RATELIMIT_ENABLED="0", LOG_LEVEL="WARNING")
    task_id = seed({**base, "TRACKER_INSTANCE_PATH": str(work / "seed")})
    store = None
    if args.endpoint is None:
        port = free_port()
        store = moto(port, work / "moto.log")
        endpoint, key, secret = f"http://127.0.0.1:{port}", "bench", "bench-secret"
    else:
        endpoint, key, secret = args.endpoint, os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
    s3 = {"EVIDENCE_STORAGE": "s3", "S3_ENDPOINT_URL": endpoint, "S3_BUCKET": f"bench-{uuid.uuid4().hex[:8]}",
          "S3_ACCESS_KEY": key, "S3_SECRET_KEY": secret, "S3_REGION": "us-east-1"}
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                     aws_secret_access_key=secret).create_bucket(Bucket=s3["S3_BUCKET"])
        results = [
            measure("local", {**base, "EVIDENCE_STORAGE": "local",
                              "TRACKER_INSTANCE_PATH": str(work / "local")},
                    task_id, args.mb, args.repeat, work / "gunicorn-local.log"),
            measure("s3", {**base, **s3, "TRACKER_INSTANCE_PATH": str(work / "s3")}, task_id, args.mb,
                    args.repeat, work / "gunicorn-s3.log"),
        ]
    finally:
        if store is not None:
            store.terminate()
            store.wait(10)
    print(f"{args.mb} MB evidence through gunicorn -w 2 (median of {args.repeat}; S3 at {endpoint})")
    print(f"{'store':<7}{'up MB/s':>9}{'down MB/s':>11}   workers' RSS / peak (MiB), before → after")
    for r in results:
        memory_text = ", ".join(f"{r['before'][pid][0]}/{r['before'][pid][1]} → "
                                f"{r['after'][pid][0]}/{r['after'][pid][1]}" for pid in r["before"])
        print(f"{r['kind']:<7}{r['up']:>9.1f}{r['down']:>11.1f}   {memory_text}")
    print(f"(logs: {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
