"""Instructions per request, in-process, under valgrind's callgrind: a figure a busy machine does not move.

    python -m benchmarks.instructions --url URL [--count 5] [--warmup 3] [--page NAME ...]

Each page runs in its own `valgrind --tool=callgrind` process: the app is created on URL (a database
made by benchmarks.generate), the page's user logs in through the test client, the page is requested
`--warmup` times (caches filled as in a running worker), then `--count` times with collection on.
Collection is on only inside `ffi_call`: the measured requests run in a ctypes callback, so callgrind
counts them and nothing else (imports, app start, log-in and warm-up are not counted). Printed: the
instructions per request (Ir), the status and the size of the answer.

For PostgreSQL only the app's side is counted (the server is another process); on SQLite the
database engine runs in-process and is counted too.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_PATH = "/api/v1/tasks?overdue=true&per_page=50"
# name: (user, path); the users are the generator's (benchmarks.workload).
PAGES = {
    "overdue": ("bench_manager", "/tasks?overdue=1"),
    "home": ("bench_staff", "/"),
    "api": ("bench_manager", API_PATH),
    "problems": ("bench_manager", "/problems"),
    # The API list's fixed cost (one row): what is left of a request once its rows are gone.
    "api_1": ("bench_manager", API_PATH.replace("per_page=50", "per_page=1")),
}
DEFAULT_PAGES = ("overdue", "home", "api")
BASELINE = Path(__file__).resolve().parent / "instructions_baseline.json"
PASSWORD = "bench1234"


def _inner(page: str, url: str, count: int, warmup: int) -> None:
    """Runs under callgrind: set up, warm up, then the measured requests inside a ctypes callback."""
    from tracker import create_app

    user, path = PAGES[page]
    os.environ["TRACKER_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="instructions-")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    headers = {}
    if path.startswith("/api/"):
        headers["Authorization"] = f"Bearer {_token(app, user)}"
    elif client.post("/login", data={"username": user, "password": PASSWORD}).status_code != 302:
        raise SystemExit(f"cannot log in as {user}")
    answers = []

    def request() -> None:
        answer = client.get(path, headers=headers)
        answers.append((answer.status_code, len(answer.get_data())))

    with redirect_stderr(io.StringIO()):  # the access log still formats its lines, into nowhere
        for _ in range(warmup):
            request()
        def requests() -> None:
            for _ in range(count):
                request()

        ctypes.CFUNCTYPE(None)(requests)()
    if len(answers) != warmup + count:  # ctypes prints an exception in a callback and goes on
        raise SystemExit("a measured request failed")
    status, size = answers[-1]
    print(json.dumps({"status": status, "bytes": size, "count": count}))


def _token(app, username: str) -> str:
    import sqlalchemy as sa

    from tracker.auth import tokens
    from tracker.clock import current_clock
    from tracker.extensions import db
    from tracker.org.models import User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        _, raw = tokens.create_token(user, current_clock(), name="instructions")
        db.session.commit()
        return raw


def measure(page: str, url: str, count: int, warmup: int) -> dict:
    """Run one page under callgrind; its instructions per request and its answer."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=ffi_call",
                   f"--callgrind-out-file={out}", sys.executable, "-m", "benchmarks.instructions",
                   "--inner", page, "--url", url, "--count", str(count), "--warmup", str(warmup)]
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=os.environ.get("PYTHONPATH") or str(ROOT))
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
        if done.returncode:
            raise SystemExit(f"{page}: valgrind failed\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        totals = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.M)
        result["instructions"] = int(totals.group(1)) / count
        return result


def baseline(backend: str, shape: str) -> dict:
    """The recorded figures ({page: instructions, "commit": …}) of `backend` on the workload `shape`
    (benchmarks.workload.Shape.describe()); empty when none were recorded on that shape."""
    if not BASELINE.exists():
        return {}
    recorded = json.loads(BASELINE.read_text())
    if recorded.get("shape") != shape:
        return {}
    return dict(recorded.get(backend) or {}, commit=recorded["commit"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="database URL (made by benchmarks.generate)")
    p.add_argument("--count", type=int, default=5, help="measured requests per page (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="requests before measuring (default 3)")
    p.add_argument("--page", action="append", choices=sorted(PAGES),
                   help=f"a page to measure (repeatable; default {', '.join(DEFAULT_PAGES)})")
    p.add_argument("--inner", choices=sorted(PAGES), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        _inner(args.inner, args.url, args.count, args.warmup)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    print(f"{'page':<10} {'path':<40} {'user':<14} {'M instr/request':>16} {'status':>6} {'bytes':>8}")
    for page in args.page or DEFAULT_PAGES:
        user, path = PAGES[page]
        r = measure(page, args.url, args.count, args.warmup)
        print(f"{page:<10} {path:<40} {user:<14} {r['instructions'] / 1e6:>16.1f} {r['status']:>6} "
              f"{r['bytes']:>8}", flush=True)


if __name__ == "__main__":
    main()
