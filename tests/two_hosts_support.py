"""docs/deploy.md read as a test plan, and the "hosts" of tests/test_two_hosts.py that run it.

The guide's fenced blocks: ```sh blocks hold commands, ```ini and ```nginx blocks hold files whose
first line names their path (`# /etc/tracker/tracker.env`). A `Host` is a folder of its own (instance
folder, settings file, logs) and a port of its own; it writes the guide's settings file with this
test's values and runs the guide's lines and systemd ExecStart lines with only the machine-specific
parts swapped (`Host.localize`): the checkout path, the settings file's path, the backup folder, the
bind address and the worker count. Shell lines run as the guide says to run them: in the checkout,
after `set -a; . tracker.env; set +a`. Services get the file's values as systemd's EnvironmentFile
would, in an otherwise bare environment.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from live_gunicorn import LiveClient, _die_with_parent, troubles

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = f"{Path(sys.prefix) / 'bin'}/"
GUIDE = ROOT / "docs" / "deploy.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.M | re.S)
# A line the tests run: optional VAR=value prefixes, then the app's CLI, gunicorn or curl.
RUNNABLE = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:\.venv/bin/(?:flask|gunicorn)|curl)\s")
CHECKOUT, SETTINGS_FILE, BACKUPS = "/srv/tracker", "/etc/tracker/tracker.env", "/var/backups/tracker"
GUIDE_WORKERS, TEST_WORKERS = "--workers 4", "--workers 2"
GUIDE_BINDS = ("0.0.0.0:8000", "127.0.0.1:8000")


# --- the guide -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    lang: str
    text: str

    @property
    def path(self) -> str | None:
        """The file a block shows, from its first line `# /some/path …`."""
        first = self.text.split("\n", 1)[0]
        return first.split()[1] if first.startswith("# /") else None


def blocks(guide: Path = GUIDE) -> list[Block]:
    return [Block(m[1], m[2]) for m in FENCE.finditer(guide.read_text(encoding="utf-8"))]


def block(path: str, guide: Path = GUIDE) -> Block:
    (found,) = [b for b in blocks(guide) if b.path == path]
    return found


def without_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def commands(guide: Path = GUIDE) -> list[str]:
    """The guide's runnable lines (flask, gunicorn, curl) of its ```sh blocks, once each, in order."""
    lines = [without_comment(line) for b in blocks(guide) if b.lang == "sh" for line in b.text.splitlines()]
    return list(dict.fromkeys(line for line in lines if RUNNABLE.match(line)))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return re.sub(r"\\(.)", r"\1", inner) if value[0] == '"' else inner
    return value


def settings(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (comments, blank lines, outer quotes)."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key.strip()] = _unquote(value.strip())
    return found


def unit(text: str) -> dict[str, str]:
    """Key=Value lines of a systemd unit (the keys are unique in the guide's units)."""
    return dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Za-z]+=", line))


def settings_text(values: dict[str, str]) -> str:
    """A settings file both systemd and `sh` read the same way (the tests' values need no escapes)."""
    def quoted(value: str) -> str:
        assert not re.search(r"[\"'\\$`]", value), value
        return f'"{value}"' if re.search(r"[^\w@%+=:,./-]", value) else value
    return "".join(f"{k}={quoted(v)}\n" for k, v in values.items())


# --- the hosts -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_environment(**extra: str) -> dict[str, str]:
    """What a service or an operator's shell starts from: no DATABASE_URL, TRACKER_* or S3_* of ours."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    env.update(extra)
    return env


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


class Host:
    """One "machine": its own instance folder, settings file, port and logs."""

    def __init__(self, name: str, base: Path, values: dict[str, str], backups: Path):
        self.name = name
        self.dir = base / name
        self.instance = self.dir / "instance"
        self.instance.mkdir(parents=True)
        self.env_path = self.dir / "tracker.env"
        self.backups = backups
        self.port = free_port()
        self.values = {**values, "TRACKER_INSTANCE_PATH": str(self.instance)}
        self.web: subprocess.Popen | None = None
        self.scheduler: subprocess.Popen | None = None
        self.write()

    def __repr__(self) -> str:
        return f"Host({self.name}, port {self.port})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, **changes: str) -> None:
        self.values.update(changes)
        self.env_path.write_text(settings_text(self.values), encoding="utf-8")

    def localize(self, text: str) -> str:
        """The guide's text for this host: only the machine-specific parts change."""
        text = text.replace(SETTINGS_FILE, str(self.env_path)).replace(BACKUPS, str(self.backups))
        text = text.replace(CHECKOUT, str(ROOT)).replace(GUIDE_WORKERS, TEST_WORKERS)
        # The virtualenv running the tests (the checkout's own under `make test`; a worktree borrows one).
        text = re.sub(rf"(?:{re.escape(str(ROOT))}/)?\.venv/bin/", lambda _m: VENV_BIN, text)
        for bind in GUIDE_BINDS:
            text = text.replace(bind, f"127.0.0.1:{self.port}")
        return text

    def run(self, line: str, ran: list[str], timeout: float = 120, **extra: str) -> str:
        """A line of the guide, run in the checkout with the settings file sourced: its output."""
        ran.append(line)
        script = f"set -a; . {shlex.quote(str(self.env_path))}; set +a\n{self.localize(line)}\n"
        done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=bare_environment(**extra), text=True,
                              capture_output=True, timeout=timeout)
        assert done.returncode == 0, (f"{self.name}: {line!r} exited {done.returncode}:\n"
                                      f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def service_environment(self) -> dict[str, str]:
        return bare_environment(**settings(self.env_path.read_text(encoding="utf-8")))

    def start(self, exec_start: str, log_name: str) -> subprocess.Popen:
        """A systemd unit's ExecStart, localized, in the checkout with the settings file's environment."""
        log = (self.dir / log_name).open("wb")
        try:
            return subprocess.Popen(shlex.split(self.localize(exec_start)), cwd=ROOT,
                                    env=self.service_environment(), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            log.close()

    def start_web(self, exec_start: str) -> None:
        self.web = self.start(exec_start, "web.log")

    def wait_web(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.web.poll() is None, f"{self.name}: gunicorn exited:\n{self.log('web.log')}"
            try:
                if self.client().get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: gunicorn did not answer within {seconds} s:\n"
                             f"{self.log('web.log')}")

    def start_scheduler(self, exec_start: str) -> None:
        self.scheduler = self.start(exec_start, "scheduler.log")

    def workers(self) -> list[int]:
        """The gunicorn workers' pids (the master's children)."""
        pid = self.web.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def rss(self) -> dict[int, dict[str, int]]:
        return {pid: rss_kib(pid) for pid in self.workers()}

    def client(self) -> LiveClient:
        return LiveClient(self)

    def log(self, name: str) -> str:
        path = self.dir / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def trouble(self) -> list[str]:
        return troubles(self.log("web.log"))

    def stop(self) -> None:
        """SIGINT to what this host started (gunicorn: quick shutdown; the scheduler releases its
        lock); each one's own process group killed if it lingers."""
        for proc in (self.web, self.scheduler):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (self.web, self.scheduler):
            if proc is None:
                continue
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group of the process started above
                proc.wait(5)


# --- the mail server -----------------------------------------------------------------------------


class SlowInbox:
    """An aiosmtpd handler that answers MAIL FROM after `delay` seconds (a slow relay: a flush takes a
    while, so a scheduler can be killed in the middle of one) and keeps each accepted message's
    X-Tracker-Notification id. The delay comes before the message is sent, never between the server
    taking it and answering 250, so a killed sender rarely leaves a message the server kept."""

    def __init__(self, delay: float):
        self.delay = delay
        self.lock = threading.Lock()
        self.ids: list[int] = []
        self.recipients: list[tuple[int, tuple[str, ...]]] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        await asyncio.sleep(self.delay)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.ids.append(int(msg["X-Tracker-Notification"]))
            self.recipients.append((self.ids[-1], tuple(envelope.rcpt_tos)))
        return "250 Message accepted"

    def received(self) -> Counter:
        with self.lock:
            return Counter(self.ids)

    def count(self) -> int:
        with self.lock:
            return len(self.ids)


class SMTPServer:
    def __init__(self, delay: float):
        self.port, self.inbox = free_port(), SlowInbox(delay)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
