"""A real gunicorn on 127.0.0.1, a stdlib HTTP client that logs in like a browser, and timed loops.

Every loop is bounded twice: by a number of requests and by seconds. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPException
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

import sqlalchemy as sa

from benchmarks.generate import ROOT, app_env

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database(url: str) -> None:
    """Drop and create a PostgreSQL database for a test run; loopback servers only."""
    target = sa.make_url(url)
    if target.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("Benchmarks and load tests run on loopback only.")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


class Gunicorn:
    """`gunicorn -w N -b 127.0.0.1:PORT 'tracker:create_app()'` on a database, stopped on exit."""

    def __init__(self, url: str, log: Path, workers: int = 2):
        self.url, self.log, self.workers = url, log, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "tracker:create_app()"],
            # A worker that crashes in C code (seen: SIGSEGV) leaves its Python stack in the log.
            cwd=ROOT, env=app_env(self.url, PYTHONFAULTHANDLER="1"), stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log}")
            try:
                if Client(self.base).get("/login")[0] == 200:
                    return self
            except (URLError, ConnectionError, OSError):
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"gunicorn did not answer within 60 s; see {self.log}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its pid
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Client:
    """urllib with a cookie jar; `login` fetches the form's csrf_token first, as a browser would."""

    def __init__(self, base: str, cookies: CookieJar | None = None, headers: dict | None = None):
        self.base = base
        self.jar = cookies if cookies is not None else CookieJar()
        self.opener = build_opener(HTTPCookieProcessor(self.jar))
        self.headers = dict(headers or {})

    def get(self, path: str) -> tuple[int, bytes, str]:
        """(status, body, final URL); redirects are followed. Status 0: the server dropped the connection."""
        try:
            return self._open(Request(self.base + path, headers=self.headers))
        except (HTTPException, ConnectionError, URLError) as exc:
            if isinstance(exc, URLError) and not isinstance(exc.reason, (ConnectionError, OSError)):
                raise
            return 0, b"", self.base + path

    def _open(self, request: Request) -> tuple[int, bytes, str]:
        try:
            with self.opener.open(request, timeout=120) as resp:
                return resp.status, resp.read(), resp.geturl()
        except HTTPError as exc:
            return exc.code, exc.read(), request.full_url

    def login(self, username: str, password: str) -> None:
        status, body, _ = self.get("/login")
        match = CSRF.search(body.decode("utf-8", "replace"))
        if status != 200 or not match:
            raise RuntimeError(f"no login form with a csrf_token (HTTP {status})")
        form = {"csrf_token": match[1] or match[2], "username": username, "password": password}
        status, body, final = self._open(Request(self.base + "/login", data=urlencode(form).encode(),
                                                 headers=self.headers))
        if status != 200 or final.rstrip("/").endswith("/login"):
            raise RuntimeError(f"login as {username} failed (HTTP {status}, ended at {final})")

    def twin(self) -> Client:
        """Another client with the same session (cookies copied), for another thread."""
        jar = CookieJar()
        for cookie in self.jar:
            jar.set_cookie(cookie)
        return Client(self.base, jar, self.headers)


@dataclass
class Timing:
    """Latencies of one measured loop, in seconds; non-200 answers are counted, not timed."""

    samples: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    size: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def latency(client: Client, path: str, *, count: int, warmup: int = 5, max_seconds: float = 120,
            anonymous: bool = False) -> Timing:
    """`count` sequential requests after `warmup` (stops early after `max_seconds`).

    Ending on the login page means the session was lost: an error, unless the request is `anonymous`.
    """
    timing = Timing()
    deadline = time.monotonic() + max_seconds
    for i in range(warmup + count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        status, body, final = client.get(path)
        took = time.perf_counter() - started
        if status != 200 or ("/login" in final and not anonymous):
            timing.errors[status] = timing.errors.get(status, 0) + 1
        elif i >= warmup:
            timing.samples.append(took)
            timing.size = len(body)
    return timing


@dataclass
class Throughput:
    done: int = 0
    seconds: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else float("nan")


def throughput(client: Client, path: str, *, clients: int = 8, total: int = 800,
               max_seconds: float = 30) -> Throughput:
    """`clients` threads share `total` requests (or stop at `max_seconds`); completed 200s per second."""
    result = Throughput()
    lock = threading.Lock()
    left = [total]
    deadline = time.monotonic() + max_seconds

    def worker(c: Client) -> None:
        while time.monotonic() < deadline:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            status, _, final = c.get(path)
            with lock:
                if status == 200 and "/login" not in final:
                    result.done += 1
                else:
                    result.errors[status] = result.errors.get(status, 0) + 1

    for _ in range(clients):  # warm every worker process and connection first
        client.get(path)
    threads = [threading.Thread(target=worker, args=(client.twin(),)) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


WRK = shutil.which("wrk")


def wrk_throughput(client: Client, path: str, *, clients: int = 8, seconds: int = 20) -> Throughput:
    """The same measurement with wrk (C, keep-alive), so the load generator costs little of the two
    cores the server needs: the Python client topped out near 330 req/s on a page that does nothing.
    Non-2xx answers and a login page instead of the list count as errors (the session's cookies
    go along)."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    headers = dict(client.headers, **({"Cookie": cookie} if cookie else {}))
    # A Lua hook counts answers that are the login page (a lost session) as errors, not successes.
    script = Path(ROOT / "benchmarks" / "results" / "wrk-count.lua")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(WRK_SCRIPT)
    args = [WRK, f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    for _ in range(clients):  # warm every worker process first
        client.get(path)
    done = subprocess.run(args + [client.base + path], capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    result = Throughput()
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if done.returncode or not total:
        result.errors[-1] = 1
        return result
    result.seconds = float(total[2]) / (1000 if total[3] == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lost = re.search(r"login pages: (\d+)", out)
    errors = (int(bad[1]) if bad else 0)
    if errors:
        result.errors[400] = errors
    if lost and int(lost[1]):
        result.errors[302] = int(lost[1])
    result.done = int(total[1]) - errors - (int(lost[1]) if lost else 0)
    return result


WRK_SCRIPT = """
-- count responses that are the login form (the session was lost) instead of the asked page
local lost = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) lost = 0 end
function response(status, headers, body)
  if status == 302 or (body and string.find(body, 'name="password"', 1, true)) then lost = lost + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("lost") or 0) end
  io.write(string.format("login pages: %d\\n", total))
end
"""
