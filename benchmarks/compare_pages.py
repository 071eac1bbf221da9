"""Save the HTML of every main page, as each demo user sees it, for comparing two checkouts.

    PYTHONPATH=<checkout> <venv>/bin/python benchmarks/compare_pages.py OUTDIR
    diff -r OUTDIR_BEFORE OUTDIR_AFTER

The demo is loaded into a fresh SQLite file at a fixed date; CSRF tokens and other per-run values
are blanked, so two runs of the same code give identical files.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import flask_migrate

from tracker import create_app
from tracker.clock import Clock
from tracker.extensions import db

NOW = "2026-06-15T10:00:00"
PAGES = ["/", "/tasks", "/tasks?view=overdue", "/problems", "/responsibility", "/notifications", "/profile",
         "/dashboard", "/reports", "/ledger", "/admin/users", "/admin/units", "/admin/sources",
         "/admin/outbox"]
VOLATILE = [
    (re.compile(r'(name="[\w-]*csrf_token" value=)"[^"]*"'), r'\1""'),
    (re.compile(r'(name="[\w-]*csrf_token" type="hidden" value=)"[^"]*"'), r'\1""'),
    (re.compile(r'<meta name="csrf-token" content="[^"]*"'), '<meta name="csrf-token" content=""'),
    (re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\b"), "HH:MM"),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp / "instance")
    app = create_app({"SECRET_KEY": "compare", "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
                      "NOW": NOW, "WTF_CSRF_ENABLED": True, "SCHEDULER_ENABLED": False,
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        flask_migrate.upgrade()
        from tracker import demo
        logins = demo.load_demo(Clock.parse(NOW))
        db.session.commit()
        tasks = db.session.scalars(db.text("SELECT id FROM tasks ORDER BY id LIMIT 12")).all()
        problems = db.session.scalars(db.text("SELECT id FROM problems ORDER BY id LIMIT 6")).all()
    pages = PAGES + [f"/tasks/{i}" for i in tasks] + [f"/problems/{i}" for i in problems]
    for username, password, _role, _unit in logins:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page)
        data = {"username": username, "password": password}
        if token:
            data["csrf_token"] = token.group(1)
        if client.post("/login", data=data).status_code != 302:
            print(f"{username}: cannot log in, skipped")
            continue
        for url in pages:
            response = client.get(url)
            html = response.get_data(as_text=True)
            for pattern, repl in VOLATILE:
                html = pattern.sub(repl, html)
            name = re.sub(r"[^\w]+", "_", url).strip("_") or "home"
            (out / f"{username}__{name}.html").write_text(f"{response.status_code}\n{html}", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
