"""Load test: mixed traffic from 16 clients against a real gunicorn on PostgreSQL, bounded in time.

    .venv/bin/python -m benchmarks.load                 # 10 minutes (the issue's figure)
    .venv/bin/python -m benchmarks.load --seconds 120   # shorter

It (re)creates the PostgreSQL database `loadtest` (loopback only), migrates it, loads the demo
plus --extra-tasks more measures, starts `gunicorn -w 2 'tracker:create_app()'` on 127.0.0.1
with SCHEDULER_ENABLED=0, and runs --clients threads, each logged in through /login (with its
CSRF token) as a demo user, doing reads (lists, task pages), progress posts and state
transitions (start, submit, verify, reject) through the real forms and their tokens (stdlib
urllib + http.cookiejar).

A write counts as accepted only when the app says so (it redirects to the task page and shows a
success message). At the end: the number of 5xx answers must be 0, and every accepted write
must be in the database (each progress note carries a unique marker; each accepted transition
must have its audit event), else the exit status is 1. A summary table is printed.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path

import sqlalchemy as sa

from benchmarks.webclient import free_port, recreate_database

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_PASSWORD = "demo1234"
# What a client does, with weights: mostly reads, a steady stream of writes.
ACTIONS = [("read_list", 30), ("read_task", 30), ("progress", 25), ("transition", 15)]
TRANSITIONS = {"start": "start-comment", "submit": "submit-result", "verify": "verify-comment",
               "reject": "reject-comment"}


# --- set-up --------------------------------------------------------------------------------------




def flask(env: dict, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "tracker", *args], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def seed_extra_tasks(env: dict, count: int) -> None:
    """More open measures on the demo's problems, owned by the demo's staff and managers."""
    code = f"""
import random
from datetime import timedelta
import sqlalchemy as sa
from tracker import create_app
from tracker.clock import current_clock
from tracker.enums import Role, TaskType
from tracker.extensions import db
from tracker.org.models import User
from tracker.problems.models import Problem
from tracker.tasks import services
app = create_app()
with app.app_context():
    rnd, clock = random.Random(7), current_clock()
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    owners = db.session.scalars(sa.select(User).where(User.role.in_([Role.STAFF, Role.MANAGER]))).all()
    problems = db.session.scalars(sa.select(Problem)).all()
    for n in range({count}):
        owner = rnd.choice(owners)
        services.create_task(rnd.choice(problems), admin, clock, measure=f"压力测试整改措施{{n}}",
                             owner=owner, unit=owner.unit,
                             deadline=clock.today() + timedelta(days=rnd.randint(-40, 90)),
                             type=TaskType.DEADLINE, allow_past_deadline=True)
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


def start_gunicorn(env: dict, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "60",
         "tracker:create_app()"],
        env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"gunicorn exited; see {log}")
            time.sleep(0.3)
    proc.kill()
    sys.exit("gunicorn did not come up")


# --- a client ------------------------------------------------------------------------------------


class Forms(HTMLParser):
    """Every POST form of a page: its action and hidden inputs (CSRF token, version)."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict] = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._current = self.forms.setdefault(a.get("action", ""), {})
        elif tag == "input" and self._current is not None and a.get("type") == "hidden" and a.get("name"):
            self._current[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """One logged-in browser: a cookie jar, no automatic redirects, every answer recorded."""

    def __init__(self, base: str, stats: Stats):
        self.base, self.stats = base, stats
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def request(self, kind: str, path: str, data: dict | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as resp:
                status, text, location = resp.status, resp.read().decode(), ""
        except urllib.error.HTTPError as exc:
            status, location = exc.code, exc.headers.get("Location", "")
            text = exc.read().decode(errors="replace")
        except OSError as exc:
            status, text, location = 599, str(exc), ""  # no answer at all counts as a server error
        self.stats.record(kind, status, (time.perf_counter() - started) * 1000)
        return status, text, urllib.parse.urlsplit(location).path

    def login(self, username: str) -> None:
        _, page, _ = self.request("login", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
            re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        status, _, _ = self.request("login", "/login", {"csrf_token": token.group(1), "username": username,
                                                        "password": DEMO_PASSWORD})
        if status != 302:
            raise RuntimeError(f"login of {username} failed: {status}")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.outcomes: Counter = Counter()
        self.progress_markers: list[tuple[int, str]] = []
        self.transitions: Counter = Counter()  # (task_id, action) → accepted count

    def record(self, kind: str, status: int, ms: float) -> None:
        with self.lock:
            self.times[kind].append(ms)
            self.statuses[kind][status] += 1

    def accepted(self, key, marker=None) -> None:
        with self.lock:
            if key[1] == "progress":
                self.progress_markers.append((key[0], marker))
            else:
                self.transitions[key] += 1
            self.outcomes[f"{key[1]} accepted"] += 1

    def refused(self, action: str, status: int) -> None:
        with self.lock:
            self.outcomes[f"{action} refused ({status})"] += 1


def _write(client: Client, task_id: int, action: str, forms: dict) -> None:
    path = f"/tasks/{task_id}/progress" if action == "progress" else f"/tasks/{task_id}/transition/{action}"
    marker = f"LOADTEST-{uuid.uuid4().hex}"
    data = dict(forms[path])
    field = "progress-body" if action == "progress" else TRANSITIONS[action]
    data[field] = f"压力测试 {action} {marker}"
    status, _, location = client.request(action, path, data)
    if status == 302 and location == f"/tasks/{task_id}":
        # The same redirect also answers "not available to you now": the flash tells them apart.
        status2, page, _ = client.request("read_task", location)
        if status2 == 200 and "alert-success" in page:
            client.stats.accepted((task_id, action), marker)
            return
    client.stats.refused(action, status)


def run_client(client: Client, tasks: list[int], until: float, rnd: random.Random) -> None:
    lists = ["/", "/tasks", "/tasks?overdue=1", "/tasks?state=in_progress", "/problems", "/tasks?page=2"]
    kinds, weights = zip(*ACTIONS, strict=True)
    while time.monotonic() < until:
        kind = rnd.choices(kinds, weights)[0]
        if kind == "read_list":
            client.request(kind, rnd.choice(lists))
            continue
        task_id = rnd.choice(tasks)
        status, page, _ = client.request("read_task", f"/tasks/{task_id}")
        if kind == "read_task" or status != 200:
            continue
        parser = Forms()
        parser.feed(page)
        if kind == "progress" and f"/tasks/{task_id}/progress" in parser.forms:
            _write(client, task_id, "progress", parser.forms)
        elif kind == "transition":
            possible = [a for a in TRANSITIONS if f"/tasks/{task_id}/transition/{a}" in parser.forms]
            if possible:
                _write(client, task_id, rnd.choice(possible), parser.forms)


# --- checks and report ---------------------------------------------------------------------------


def users_and_tasks(url: str) -> dict[str, list[int]]:
    """Each writer's candidate tasks: a staff member's own, a manager's unit subtree (open ones)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT u.username, u.role, t.id FROM users u JOIN units mu ON mu.id = u.unit_id "
            "JOIN tasks t ON true JOIN units tu ON tu.id = t.unit_id "
            "WHERE u.active AND u.role IN ('staff', 'manager') AND t.state NOT IN ('closed', 'cancelled') "
            "AND ((u.role = 'staff' AND t.owner_id = u.id) "
            "OR (u.role = 'manager' AND tu.path LIKE mu.path || '%'))"
        )).all()
    engine.dispose()
    found: dict[str, list[int]] = defaultdict(list)
    for username, _role, task_id in rows:
        found[username].append(task_id)
    return found


def lost_writes(url: str, stats: Stats) -> list[str]:
    engine = sa.create_engine(url)
    missing = []
    with engine.connect() as conn:
        bodies = conn.execute(sa.text("SELECT body FROM progress WHERE body LIKE '%LOADTEST-%'")).scalars()
        found_markers = {m.group(0) for b in bodies for m in re.finditer(r"LOADTEST-[0-9a-f]{32}", b)}
        for task_id, marker in stats.progress_markers:
            if marker not in found_markers:
                missing.append(f"progress {marker} on task {task_id}")
        audit = Counter(conn.execute(sa.text(
            "SELECT task_id, action FROM audit_events WHERE action IN "
            "('task.start', 'task.submit', 'task.verify', 'task.reject')")).all())
        for (task_id, action), n in stats.transitions.items():
            if audit[(task_id, f"task.{action}")] < n:
                missing.append(f"{action} on task {task_id}: {n} accepted, "
                               f"{audit[(task_id, f'task.{action}')]} recorded")
    engine.dispose()
    return missing


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def report(stats: Stats, seconds: float, missing: list[str]) -> int:
    total = sum(len(v) for v in stats.times.values())
    errors = sum(n for c in stats.statuses.values() for s, n in c.items() if s >= 500)
    print(f"\n{'request kind':<14}{'count':>8}{'2xx':>8}{'3xx':>8}{'4xx':>6}{'5xx':>6}"
          f"{'median ms':>11}{'p95 ms':>9}")
    for kind in sorted(stats.times):
        c, t = stats.statuses[kind], stats.times[kind]
        by = lambda lo, hi, c=c: sum(n for s, n in c.items() if lo <= s < hi)  # noqa: E731
        print(f"{kind:<14}{len(t):>8}{by(200, 300):>8}{by(300, 400):>8}{by(400, 500):>6}{by(500, 1000):>6}"
              f"{statistics.median(t):>11.1f}{pct(t, 95):>9.1f}")
    print(f"\n{total} requests in {seconds:.0f} s = {total / seconds:.1f} requests/s")
    for name, n in sorted(stats.outcomes.items()):
        print(f"  {name:<34}{n:>7}")
    writes = len(stats.progress_markers) + sum(stats.transitions.values())
    print(f"\nserver errors (5xx or no answer): {errors}")
    print(f"accepted writes: {writes}; lost (not found in the database afterwards): {len(missing)}")
    for line in missing[:20]:
        print("  LOST", line)
    return 0 if errors == 0 and not missing else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--extra-tasks", type=int, default=500)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/loadtest")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tracker-load-"))
    env = {**os.environ, "DATABASE_URL": args.database_url, "TRACKER_INSTANCE_PATH": str(work / "instance"),
           "SCHEDULER_ENABLED": "0", "SECRET_KEY": uuid.uuid4().hex, "LOG_FORMAT": "json",
           "LOG_LEVEL": "WARNING"}
    (work / "instance").mkdir()
    # All 16 clients log in from 127.0.0.1: the per-address login limit would refuse most of them.
    (work / "instance" / "config.py").write_text('LOGIN_RATE_LIMIT = "10000/minute"\n')
    print(f"Preparing {args.database_url} (demo + {args.extra_tasks} measures) …", flush=True)
    recreate_database(args.database_url)
    flask(env, "db", "upgrade")
    flask(env, "demo")
    seed_extra_tasks(env, args.extra_tasks)
    writers = users_and_tasks(args.database_url)
    port = free_port()
    server = start_gunicorn(env, port, work / "gunicorn.log")
    stats = Stats()
    try:
        base = f"http://127.0.0.1:{port}"
        people = sorted(writers)
        clients = []
        for i in range(args.clients):
            client = Client(base, stats)
            username = people[i % len(people)]
            client.login(username)
            clients.append((client, writers[username]))
        print(f"{args.clients} clients logged in as {len(set(people[:args.clients]))} people; "
              f"running {args.seconds:.0f} s against gunicorn -w 2 on port {port} …", flush=True)
        started = time.monotonic()
        until = started + args.seconds
        threads = [threading.Thread(target=run_client, args=(c, t, until, random.Random(i)))
                   for i, (c, t) in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    missing = lost_writes(args.database_url, stats)
    print(f"(gunicorn log: {work / 'gunicorn.log'})")
    return report(stats, elapsed, missing)


if __name__ == "__main__":
    sys.exit(main())
