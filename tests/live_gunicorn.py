"""A real `gunicorn -w 2` on the test's database, and a stdlib HTTP client that logs in like a browser.

For everything that runs after the view returns (streamed bodies, file wrappers): the in-process test
client keeps the test's app context, and with it the request's session, alive while it reads, so it
cannot see what a real server does. `live_gunicorn` starts gunicorn as a subprocess on a free
127.0.0.1 port against the `app` fixture's database (the per-test SQLite file or the shared
PostgreSQL database) and instance folder, with CSRF on and the same NOW as the tests. Data the test
commits is visible to it. The server is always stopped; its log is printed at teardown (pytest shows
it when the test fails), and a traceback in it fails the test.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser
from http.client import HTTPConnection, HTTPResponse
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
# What a failed request leaves in the log: Python's traceback header and gunicorn's own line.
TROUBLE = ("Traceback (most recent call last)", "Error handling request", "Exception in worker process")
START_SECONDS = 60
PR_SET_PDEATHSIG = 1
STORAGE_SETTINGS = ("EVIDENCE_STORAGE", "S3_ENDPOINT_URL", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY",
                    "S3_REGION", "S3_PREFIX")


@dataclass
class LiveResponse:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class HiddenInputs(HTMLParser):
    """The hidden inputs of every form of a page, by the form's id (or action when it has no id)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(a.get("id") or a.get("action") or "", {})
        elif tag == "input" and self._current is not None and a.get("type") == "hidden" and a.get("name"):
            self._current[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def hidden_inputs(html: str, form: str = "") -> dict[str, str]:
    """The hidden fields (CSRF token, version…) of the form with this id or action."""
    parser = HiddenInputs()
    parser.feed(html)
    return parser.forms[form]


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields and (field, filename, bytes) files, and its type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                     .encode())
    for name, filename, data in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class LiveClient:
    """One browser: a cookie, no automatic redirects, a fresh connection per request."""

    def __init__(self, server: GunicornServer):
        self.server = server
        self.cookies = SimpleCookie()

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Host": f"127.0.0.1:{self.server.port}", **(extra or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        return headers

    def open(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
             timeout: float = 120) -> tuple[HTTPConnection, HTTPResponse]:
        """Send a request and return the connection and the response with its body still unread."""
        conn = HTTPConnection("127.0.0.1", self.server.port, timeout=timeout)
        conn.request(method, path, body=body, headers=self._headers(headers))
        response = conn.getresponse()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(value)
        return conn, response

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                ) -> LiveResponse:
        conn, response = self.open(method, path, body, headers)
        try:
            # A body cut short (the chunked stream never terminated) raises IncompleteRead here.
            return LiveResponse(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, params: dict | None = None) -> LiveResponse:
        return self.request("GET", f"{path}?{urlencode(params)}" if params else path)

    def post(self, path: str, data: dict) -> LiveResponse:
        return self.request("POST", path, urlencode(data).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def login(self, username: str, password: str) -> LiveClient:
        """Through the real login form: its CSRF token first, then the POST, as a browser does."""
        page = self.get("/login")
        assert page.status == 200, page.status
        token = hidden_inputs(page.text)["csrf_token"]
        answer = self.post("/login", {"csrf_token": token, "username": username, "password": password})
        assert answer.status == 302, (answer.status, answer.text[:2000])
        return self


def _die_with_parent() -> None:
    """Linux: the master gets SIGKILL should the test process die without its teardown (kill -9);
    its workers notice their parent is gone and exit."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def troubles(log: str) -> list[str]:
    """The lines of a gunicorn log that show a failed request or worker.

    Not the stop itself: SIGINT can land while a worker still writes the last bytes of an answer
    the client has already read, and gunicorn then logs its own `sys.exit(0)` from `handle_quit`
    as a failed request. Such a traceback is the test's shutdown, not the app's doing."""
    lines = log.splitlines()
    shutdown: set[int] = set()
    for n, line in enumerate(lines):
        if "Error handling request" in line:
            block = lines[n + 1:n + 60]
            end = next((i for i, b in enumerate(block) if b.startswith("[")), len(block))
            tail = block[:end]
            if tail and tail[-1].strip() == "SystemExit: 0" and any("handle_quit" in b for b in tail):
                shutdown.update(range(n, n + 1 + end))
    return [line for n, line in enumerate(lines) if n not in shutdown and any(t in line for t in TROUBLE)]


class GunicornServer:
    """`gunicorn -w 2 'tracker:create_app()'` on 127.0.0.1 (a port the OS picks), stopped on exit."""

    def __init__(self, app, workers: int = 2, **config):
        self.app = app
        self.workers = workers
        self.config = config
        self.instance = Path(app.instance_path)
        self.log_path = self.instance / f"gunicorn-{uuid.uuid4().hex[:8]}.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict:
        """The app's database, instance folder and SQLite settings; a secret of its own; CSRF on."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TRACKER_"))}
        cfg = self.app.config
        env.update({
            "DATABASE_URL": cfg["DATABASE_URL"],
            "SECRET_KEY": uuid.uuid4().hex,
            "TRACKER_INSTANCE_PATH": str(self.instance),
            # The test database's journal: a second process switching it to WAL would break the tests'.
            "SQLITE_JOURNAL_MODE": str(cfg["SQLITE_JOURNAL_MODE"]),
            "SQLITE_SYNCHRONOUS": str(cfg["SQLITE_SYNCHRONOUS"]),
            "SCHEDULER_ENABLED": "0",
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "INFO",
            "PYTHONFAULTHANDLER": "1",
            "PYTHONUNBUFFERED": "1",
        })
        # The app's store (tests/s3_support.py may have pointed it at the S3 server).
        env.update({k: str(cfg[k]) for k in STORAGE_SETTINGS if cfg.get(k)})
        env.update({k: str(v) for k, v in self.config.items()})
        return env

    def _write_instance_config(self) -> None:
        # NOW is read from instance/config.py only (never from the environment, see README).
        self.instance.mkdir(parents=True, exist_ok=True)
        (self.instance / "config.py").write_text(f"NOW = {self.app.config['NOW']!r}\n", encoding="utf-8")

    def start(self) -> GunicornServer:
        self._write_instance_config()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-b", "127.0.0.1:0",
                 "--timeout", "30", "--graceful-timeout", "5", "tracker:create_app()"],
                cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the workers go with it on a kill
                preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            if self.port is None and (found := LISTENING.search(self.log())):
                self.port = int(found[1])
            if self.port is not None and self._healthy():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {START_SECONDS} s:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            return LiveClient(self).get("/healthz").status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """SIGINT (quick shutdown: an idle sync worker would sit out the graceful timeout on SIGTERM)
        to the master we started; its whole process group is killed if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group of the process started above
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def trouble(self) -> list[str]:
        """Lines of the log that show a failed request or worker (see `troubles`)."""
        return troubles(self.log())

    def client(self) -> LiveClient:
        return LiveClient(self)

    def __enter__(self) -> GunicornServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def live_gunicorn(app):
    """A started GunicornServer on the test's database; fails the test if it logged a traceback."""
    from tracker.extensions import db

    db.session.commit()  # whatever the test set up before asking for the server is visible to it
    server = GunicornServer(app)
    try:
        with server:
            yield server
    finally:
        log = server.log()
        print(f"--- gunicorn log ({server.log_path}) ---\n{log}")
        if server.trouble():
            pytest.fail("gunicorn logged a traceback:\n" + log, pytrace=False)
