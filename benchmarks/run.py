"""`make bench`: generate the workload, serve it with a real gunicorn, measure, print one table per backend.

Settings (environment): BENCH_TASKS (100000) and the other generator variables (see generate.py),
BENCH_BACKENDS ("sqlite,postgresql"), BENCH_REQUESTS (50 per list page), BENCH_CLIENTS (8),
BENCH_RATE_SECONDS (20, with wrk) or BENCH_CONCURRENT_REQUESTS (800, without wrk),
BENCH_IMPORT_ROWS (10000), BENCH_REPORT_ITEMS (10000),
BENCH_SKIP (any of "pages,floors,profile,instructions,digest,export,import,report", comma-separated),
BENCH_SCALE=1 (then also benchmarks.scale: the list pages at 20k, 200k and 1M measures side by side).
Results: printed, and written to benchmarks/results/<timestamp>.md. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime

from benchmarks import floors, instructions
from benchmarks.generate import (
    RESULTS,
    ROOT,
    app_env,
    generate,
    postgres_problem,
    postgres_url,
    shape_from_env,
    sqlite_url,
)
from benchmarks.webclient import (
    WRK,
    Client,
    Gunicorn,
    Timing,
    free_port,
    latency,
    throughput,
    wrk_throughput,
)
from benchmarks.workload import BENCH_PASSWORD, MANAGER, STAFF, Shape

API_PATH = "/api/v1/tasks?overdue=true&per_page=50"
NO_API = "n/a (no API yet)"
RATIO_TARGET = 3.0


@dataclass
class Settings:
    requests: int = int(os.environ.get("BENCH_REQUESTS") or 50)
    clients: int = int(os.environ.get("BENCH_CLIENTS") or 8)
    concurrent: int = int(os.environ.get("BENCH_CONCURRENT_REQUESTS") or 800)
    rate_seconds: int = int(os.environ.get("BENCH_RATE_SECONDS") or 20)
    import_rows: int = int(os.environ.get("BENCH_IMPORT_ROWS") or 10_000)
    report_items: int = int(os.environ.get("BENCH_REPORT_ITEMS") or 10_000)
    backends: list[str] = field(default_factory=lambda: [
        b.strip() for b in (os.environ.get("BENCH_BACKENDS") or "sqlite,postgresql").split(",") if b.strip()])
    skip: set[str] = field(default_factory=lambda: {
        s.strip() for s in (os.environ.get("BENCH_SKIP") or "").split(",") if s.strip()})


@dataclass
class Page:
    title: str
    path: str
    user: str
    reader: object
    timing: Timing | None = None
    floor: floors.Floor | None = None
    profile: floors.Profile | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.timing is None or self.floor is None or not self.floor.samples or not self.timing.samples:
            return None
        return self.timing.median / self.floor.median


@dataclass
class Outcome:
    backend: str
    facts: dict | None = None
    problem: str | None = None
    pages: list[Page] = field(default_factory=list)
    rates: list[tuple[str, object]] = field(default_factory=list)  # (title, Throughput | str)
    jobs: dict[str, dict] = field(default_factory=dict)
    plans: list[tuple[str, str, str]] = field(default_factory=list)  # (page, sql, plan)
    load: tuple[float, float, float] | None = None  # load average when the pages were measured
    baseline: Timing | None = None  # an anonymous /login: what any request costs with no data
    instructions: dict[str, dict] = field(default_factory=dict)  # page name → benchmarks.instructions result


def echo(*args) -> None:
    print(*args, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


# --- the steps ------------------------------------------------------------------------------------------


def api_token(url: str) -> str | None:
    """`flask --app tracker create-token bench_manager`, or None when there is no such command."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", "create-token", MANAGER],
                          cwd=ROOT, env=app_env(url), capture_output=True, text=True, timeout=120)
    if done.returncode:
        echo(f"  create-token failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        return None
    tokens = re.findall(r"[A-Za-z0-9_\-.~+/=]{20,}", done.stdout)
    return max(tokens, key=len) if tokens else None


def rate(client: Client, path: str, cfg: Settings):
    """Requests/s with `cfg.clients` concurrent connections: wrk when installed (`make bench` installs
    it), else the threaded Python client, which itself needs much of the CPU."""
    if WRK:
        return wrk_throughput(client, path, clients=cfg.clients, seconds=cfg.rate_seconds)
    return throughput(client, path, clients=cfg.clients, total=cfg.concurrent, max_seconds=60)


def measure_pages(out: Outcome, server: Gunicorn, cfg: Settings) -> None:
    """Latency of each list page, then requests/s with concurrent clients, through gunicorn."""
    out.load = os.getloadavg()  # the machine is shared: say how busy it was
    sessions = {}
    for user in (MANAGER, STAFF):
        sessions[user] = Client(server.base)
        sessions[user].login(user, BENCH_PASSWORD)
    for page in out.pages:
        if page.path == API_PATH:
            continue
        echo(f"  GET {page.path} as {page.user} ×{cfg.requests}")
        page.timing = latency(sessions[page.user], page.path, count=cfg.requests)
    out.baseline = latency(Client(server.base), "/login", count=cfg.requests, anonymous=True)
    overdue = out.pages[0]
    out.rates.append((f"{overdue.title}, {cfg.clients} clients", rate(sessions[MANAGER], overdue.path, cfg)))
    api = next(p for p in out.pages if p.path == API_PATH)
    status = Client(server.base).get("/api/v1/tasks")[0]
    token = api_token(server.url) if status != 404 else None
    if token is None:
        api.note = NO_API if status == 404 else "n/a (no token from `flask create-token`)"
        out.rates.append((f"API list, {cfg.clients} clients", api.note))
        return
    client = Client(server.base, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    echo(f"  GET {API_PATH} ×{cfg.requests}")
    api.timing = latency(client, API_PATH, count=cfg.requests)
    out.rates.append((f"API list, {cfg.clients} clients", rate(client, API_PATH, cfg)))


def measure_floors(out: Outcome, url: str, cfg: Settings) -> None:
    """Bare SQL of each page's data queries, replayed with Core; plans of the statements."""
    app = floors.make_app(url)
    engine = floors.app_engine(app)
    for page in out.pages:
        page.floor = floors.replay(engine, floors.capture_floor(app, page.user, page.reader),
                                   count=cfg.requests)
        for statement, params in page.floor.statements:
            out.plans.append((page.title, statement, floors.explain(engine, statement, params)))
    engine.dispose()


def profile_pages(out: Outcome, url: str) -> None:
    app = floors.make_app(url)
    for user in (MANAGER, STAFF):
        pages = [p for p in out.pages if p.user == user and p.path != API_PATH]
        for page, prof in zip(pages, floors.profile(app, user, BENCH_PASSWORD, [p.path for p in pages]),
                              strict=True):
            page.profile = prof
    engine = floors.app_engine(app)
    known = {sql for _, sql, _ in out.plans}
    for page in out.pages:
        for _, statement, params in (page.profile.slowest[:1] if page.profile else []):
            if statement not in known:
                known.add(statement)
                out.plans.append((f"{page.title} (slowest in the page)", statement,
                                  floors.explain(engine, statement, params)))
    engine.dispose()


def count_instructions(out: Outcome, url: str) -> None:
    """Instructions per request of the pages benchmarks.instructions knows, each under callgrind."""
    if shutil.which("valgrind") is None:
        out.instructions["—"] = {"error": "valgrind is not installed (make bench installs Debian's)"}
        return
    for page in instructions.DEFAULT_PAGES:
        echo(f"  instructions: {page} (callgrind, 2–4 min)")
        try:
            out.instructions[page] = instructions.measure(page, url, count=5, warmup=3)
        except SystemExit as e:
            out.instructions[page] = {"error": str(e).splitlines()[0]}


def job(name: str, url: str, *args: str, **env: str) -> dict:
    """Run one benchmarks.jobs job in its own process; its RESULT line, or the error."""
    echo(f"  job {name} {' '.join(args)}")
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.jobs", name, *args], cwd=ROOT,
                              env=app_env(url, **env), capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 1800 s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]}


class _Sink:
    """An SMTP server that accepts and counts (aiosmtpd handler)."""

    def __init__(self):
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages += 1
        self.bytes += len(envelope.content or b"")
        return "250 OK"


def _quiet_smtp_log() -> None:
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO


def run_jobs(out: Outcome, url: str, scratch: str, shape: Shape, cfg: Settings) -> None:
    if "digest" not in cfg.skip:
        from aiosmtpd.controller import Controller

        _quiet_smtp_log()
        sink, port = _Sink(), free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            out.jobs["digest"] = job("digest", url, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port),
                                     MAIL_USE_TLS="0", MAIL_USERNAME="")
        finally:
            controller.stop()
        out.jobs["digest"]["received"] = sink.messages
    if "export" not in cfg.skip:
        out.jobs["export"] = job("export", url, "--out", str(RESULTS / f"ledger-{out.backend}.xlsx"))
    if "import" not in cfg.skip:
        org = Shape(tasks=1000, problems=300, users=shape.users, units=shape.units, one_unit=shape.one_unit,
                    seed=shape.seed + 1)  # the same organisation size, few measures
        generate(scratch, org, echo=lambda *a: echo("  scratch:", *a))
        out.jobs["import"] = job("import", scratch, "--rows", str(cfg.import_rows))
    if "report" not in cfg.skip:
        out.jobs["report"] = job("report", url, "--items", str(cfg.report_items))


def run_backend(backend: str, shape: Shape, cfg: Settings) -> Outcome:
    out = Outcome(backend)
    if backend == "postgresql":
        problem = postgres_problem()
        if problem:
            out.problem = f"PostgreSQL not reachable at {postgres_url('')}: {problem}"
            echo(out.problem)
            return out
    url = postgres_url() if backend == "postgresql" else sqlite_url()
    scratch = postgres_url("bench_scratch") if backend == "postgresql" else sqlite_url("bench_scratch")
    echo(f"== {backend}")
    out.facts = generate(url, shape, echo=lambda *a: echo(" ", *a))
    unit = out.facts["problem_unit"]
    out.pages = [
        Page("整改清单 overdue", "/tasks?overdue=1", MANAGER, floors.overdue_tasks),
        Page("整改清单 all (default sort)", "/tasks", MANAGER, floors.all_tasks),
        Page("问题清单 by unit", f"/problems?unit={unit}", MANAGER, floors.problems_by_unit(unit)),
        Page("我的任务 (staff)", "/", STAFF, floors.my_tasks),
        Page("API list overdue", API_PATH, MANAGER, floors.api_overdue_tasks),
    ]
    if "pages" not in cfg.skip:
        with Gunicorn(url, RESULTS / f"gunicorn-{backend}.log") as server:
            measure_pages(out, server, cfg)
    if "floors" not in cfg.skip:
        echo("  bare-SQL floors")
        measure_floors(out, url, cfg)
    if "profile" not in cfg.skip:
        echo("  in-process profile")
        profile_pages(out, url)
    if "instructions" not in cfg.skip:
        count_instructions(out, url)
    run_jobs(out, url, scratch, shape.resolved(), cfg)
    return out


# --- the table ----------------------------------------------------------------------------------------


def _page_row(page: Page, cfg: Settings) -> str:
    if page.timing is None:
        floor = ms(page.floor.median) if page.floor and page.floor.samples else "—"
        return f"| {page.title} `{page.path}` | {page.note or 'not measured'} | | {floor} | | |"
    t = page.timing
    ratio = page.ratio
    flag = " ⚠" if ratio is not None and ratio > RATIO_TARGET else ""
    details = [f"{len(t.samples)} req", f"{t.size / 1024:,.0f} KB"]
    if t.errors:
        details.append(f"errors {t.errors}")
    if page.profile:
        p = page.profile
        details.append(f"in-process {ms(p.wall)}: SQL {ms(p.sql)} in {p.statements:.0f} statements")
    if page.note:
        details.append(page.note)
    floor = f"{ms(page.floor.median)}" if page.floor and page.floor.samples else "—"
    return (f"| {page.title} `{page.path}` | {ms(t.median)} | {ms(t.p95)} | {floor} | "
            f"{f'{ratio:.1f}×{flag}' if ratio is not None else '—'} | {', '.join(details)} |")


def _instruction_rows(out: Outcome, shape: Shape) -> list[str]:
    """One row per page: millions of instructions per request, and the recorded figure before issue 16
    (benchmarks/instructions_baseline.json) when this run has the shape it was measured on."""
    before = instructions.baseline(out.backend, shape.resolved().describe())
    rows = []
    for page, r in out.instructions.items():
        if "error" in r:
            rows.append(f"| instructions: {page} | failed | | | | {r['error']} |")
            continue
        user, path = instructions.PAGES[page]
        details = [f"{r['count']} requests under callgrind, HTTP {r['status']}, {r['bytes'] / 1024:,.0f} KB"]
        if page in before:
            was = before[page] / 1e6
            now = r["instructions"] / 1e6
            details.append(f"before: {was:.1f} M at {before['commit']} ({now / was - 1:+.0%})")
        rows.append(f"| instructions: {page} `{path}` ({user}) | {r['instructions'] / 1e6:.1f} M | | | | "
                    f"{', '.join(details)} |")
    return rows


def _mem(job: dict) -> str:
    grown = job["peak_mb"] - job["base_mb"]
    return f"peak RSS {job['peak_mb']:,.0f} MB (+{grown:,.0f} MB over the job's start)"


def _job_rows(jobs: dict) -> list[str]:
    rows = []
    d = jobs.get("digest")
    if d and "error" not in d:
        rate = d["sent"] / d["total"] if d["total"] else float("nan")
        rows.append(f"| weekly digest → SMTP | {d['total']:.1f} s | | | | {d['messages']:,} messages "
                    f"({d['received']:,} received), {rate:,.0f} msg/s, "
                    f"{d['items'] / max(d['messages'], 1):.1f} items/msg, {d['body_kb']:.0f} KB/msg; "
                    f"build and queue {d['queue']:.1f} s, send {d['send']:.1f} s; "
                    f"{_mem(d)} |")
    e = jobs.get("export")
    if e and "error" not in e:
        rows.append(f"| ledger export (all) | {e['seconds']:.1f} s | | | | {e['measures']:,} measures, "
                    f"{e['mb']:.1f} MB xlsx, {e['measures'] / e['seconds']:,.0f} measures/s, "
                    f"CPU {e['cpu']:.1f} s; {_mem(e)} |")
    i = jobs.get("import")
    if i and "error" not in i:
        rows.append(f"| ledger import {i['rows']:,} rows: check job | {i['check']:.1f} s | | | | "
                    f"{i['kb']:,.0f} KB xlsx, {i['rows'] / i['check']:,.0f} rows/s, "
                    f"CPU {i['check_cpu']:.1f} s |")
        rows.append(f"| ledger import {i['rows']:,} rows: import job | {i['import']:.1f} s | | | | "
                    f"{i['imported']:,} measures created, {i['rows'] / i['import']:,.0f} rows/s, "
                    f"CPU {i['import_cpu']:.1f} s; {_mem(i)} |")
    r = jobs.get("report")
    if r and "error" not in r:
        rows.append(f"| report DOCX | {r['total']:.1f} s | | | | {r['items']:,} closed items "
                    f"(+{r['open_items']:,} open) since {r['since']}; figures {r['figures']:.1f} s, "
                    f"wording {r['wording']:.1f} s, DOCX {r['docx']:.1f} s, CPU {r['cpu']:.1f} s, "
                    f"{r['paragraphs']:,} paragraphs, {r['kb']:,.0f} KB; {_mem(r)} |")
    for name, result in jobs.items():
        if "error" in result:
            rows.append(f"| {name} | failed | | | | {result['error']} |")
    return rows


def table(out: Outcome, cfg: Settings, shape: Shape) -> str:
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[out.backend]
    if out.problem:
        return f"### {name}\n\n{out.problem}\n"
    f = out.facts
    lines = [f"### {name} — {f['shape'].describe()}", "",
             f"Generated {f['rows']:,} rows in {f['seconds']['total']:.1f} s; "
             f"{f['overdue']:,} overdue measures; "
             f"tasks by state {f['tasks_by_state']}; problems by state {f['problems_by_state']}; "
             f"bench_staff has {f['staff_open']} open measures; unit filter = unit {f['problem_unit']} "
             f"({f['problem_unit_problems']:,} problems in its subtree)."
             + (f" Load average before the page runs: {out.load[0]:.2f}." if out.load else ""), "",
             "| measurement | median | p95 | floor (bare SQL) | page/floor | details |",
             "|---|---:|---:|---:|---:|---|"]
    lines += [_page_row(p, cfg) for p in out.pages]
    if out.baseline is not None and out.baseline.samples:
        b = out.baseline
        lines.append(f"| baseline: anonymous `/login` (no data) | {ms(b.median)} | {ms(b.p95)} | | | "
                     f"what any page costs before its data: the request, the layout, HTTP |")
    for title, rate in out.rates:
        if isinstance(rate, str):
            lines.append(f"| {title} | {rate} | | | | |")
        else:
            errors = f", errors {rate.errors}" if rate.errors else ""
            tool = "wrk" if WRK else "Python client"
            lines.append(f"| {title} | {rate.per_second:,.0f} req/s | | | | "
                         f"{rate.done:,} requests in {rate.seconds:.1f} s ({tool}){errors} |")
    lines += _instruction_rows(out, shape)
    lines += _job_rows(out.jobs)
    return "\n".join(lines) + "\n"


def appendix(out: Outcome) -> str:
    """Slowest statements per page and every floor statement's plan (the diagnosis material)."""
    if not out.plans:
        return ""
    parts = [f"#### {out.backend}: query plans", ""]
    for page in out.pages:
        if page.profile:
            p = page.profile
            parts.append(f"- {page.title}: slowest statements in the page (ms per request): " + "; ".join(
                f"{s * 1000:.1f} ms `{sql[:90]}…`" for s, sql, _ in p.slowest))
            shares = ", ".join(f"{name} {s * 1000:.1f} ms" for name, s in p.python.items())
            parts.append(f"  - Python own time under cProfile (inflated; compare shares): {shares}")
            parts.append("  - hottest functions: " + "; ".join(f"{s * 1000:.1f} ms {fn}" for s, fn in p.hot))
    parts.append("")
    for title, statement, plan in out.plans:
        parts += [f"<details><summary>{title}: {statement[:100]}…</summary>", "", "```sql", statement, "```",
                  "```", plan, "```", "</details>", ""]
    return "\n".join(parts)


def header(shape: Shape, cfg: Settings) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return (f"## Benchmark {datetime.now():%Y-%m-%d %H:%M} (commit {commit or '?'}, Python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs)\n\n"
            f"Workload: {shape.resolved().describe()}. {cfg.requests} requests per page after 5 warm-up "
            f"requests, gunicorn -w 2 (sync), client on the same machine; floors = the page's data queries "
            f"replayed with SQLAlchemy Core; ⚠ = page above {RATIO_TARGET:.0f}× its floor.\n")


def main() -> None:
    cfg = Settings()
    shape = shape_from_env()
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    outcomes = [run_backend(b, shape, cfg) for b in cfg.backends]
    report = [header(shape, cfg)] + [table(o, cfg, shape) for o in outcomes]
    text = "\n".join(report)
    echo("\n" + text)
    target = RESULTS / f"{datetime.now():%Y%m%d-%H%M%S}.md"
    target.write_text(text + "\n" + "\n".join(appendix(o) for o in outcomes))
    took = time.perf_counter() - started
    echo(f"written to {target.relative_to(ROOT)} (with query plans); {took:.0f} s in all")
    if os.environ.get("BENCH_SCALE"):  # the lists at 20k, 200k and 1M measures (benchmarks/scale.py)
        from benchmarks import scale

        scale.main([arg for b in cfg.backends for arg in ("--backend", b)])


if __name__ == "__main__":
    main()
