"""Excel ledger in: read → validate every row → create through the services' rules, all or nothing.

`check_import` reads and checks a ledger and writes nothing (the preview). `run_import` checks it
the same way and, when the report is clean, creates everything in bulk (tracker.problems.bulk:
the services' own checks, then a few INSERTs per thousand rows). Neither commits: after
`run_import` the session holds the new rows and the caller commits (or rolls back for a dry run).
When its report has errors nothing was written.

Both take `progress`, an optional `Progress` the background job (tracker.ledger.jobs) passes to
show how far the reading, the checking and the saving got.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from tracker.clock import Clock
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.ledger import columns as C
from tracker.ledger.package import FileRejected, check_package
from tracker.ledger.reader import Position, load_sheets, read_table
from tracker.ledger.report import ImportReport, ProblemDraft
from tracker.ledger.resolve import Resolver
from tracker.ledger.shapes import classify, single_sheet_drafts, three_sheet_drafts
from tracker.org.models import User
from tracker.problems.bulk import ProblemBatch
from tracker.problems.models import Source

THREE_SHEETS, SINGLE_SHEET = "three_sheets", "single_sheet"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 20000
DEFAULT_MAX_CELLS = 300000  # 20,000 rows of 15 columns


def import_limits(config) -> dict:
    """The limits of every ledger import (page, CLI, benchmarks), from the app's configuration."""
    return {"max_bytes": config.get("LEDGER_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES),
            "max_rows": config.get("LEDGER_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS),
            "max_cells": config.get("LEDGER_IMPORT_MAX_CELLS", DEFAULT_MAX_CELLS)}


class Progress:
    """Where a check or an import is: `phase(name, total)` starts a phase, `step(done)` moves it.
    This one does nothing; the job's (tracker.ledger.jobs) writes it where the page can poll it."""

    def phase(self, name: str, total: int) -> None:
        pass

    def step(self, done: int) -> None:
        pass


READING, CHECKING, SAVING = "reading", "checking", "saving"
QUIET = Progress()


# --- entry points --------------------------------------------------------------------------------


def check_import(data: bytes, actor: User, clock: Clock, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_rows: int = DEFAULT_MAX_ROWS, max_cells: int = DEFAULT_MAX_CELLS,
                 lang: str = "zh_CN", progress: Progress = QUIET) -> ImportReport:
    """Read and validate a ledger as `run_import` would before creating anything; writes nothing.

    `lang` names columns in messages; the messages themselves follow the current locale. The file is
    refused before anything is built from it when it is not a workbook or holds more than `max_cells`
    cells (tracker.ledger.package, then counted again while streaming).
    """
    report, _batch = _check(data, actor, clock, progress, max_bytes=max_bytes, max_rows=max_rows,
                            max_cells=max_cells, lang=lang)
    return report


def run_import(data: bytes, actor: User, clock: Clock, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_rows: int = DEFAULT_MAX_ROWS, max_cells: int = DEFAULT_MAX_CELLS,
               lang: str = "zh_CN", progress: Progress = QUIET) -> ImportReport:
    """Check a ledger (`check_import`), then create its sources, problems and measures (never commits)."""
    report, batch = _check(data, actor, clock, progress, max_bytes=max_bytes, max_rows=max_rows,
                           max_cells=max_cells, lang=lang)
    if batch is None or not report.ok:
        return report
    progress.phase(SAVING, len(batch.problems) + batch.task_count)
    try:
        batch.insert(progress.step)
    except SQLAlchemyError:
        current_app.logger.exception("ledger import failed in the database")
        db.session.rollback()
        report.error(Position(""), _l("The database refused the import; nothing was imported."))
        return report
    return report


# --- reading and checking ------------------------------------------------------------------------


def _check(data: bytes, actor: User, clock: Clock, progress: Progress, *, max_bytes: int, max_rows: int,
           max_cells: int, lang: str) -> tuple[ImportReport, ProblemBatch | None]:
    report = ImportReport(lang=lang)
    try:
        counts = check_package(data, max_bytes, max_cells)
        progress.phase(READING, counts.get("rows", 0))
        sheets = load_sheets(data, max_rows=max_rows, max_cells=max_cells, progress=progress.step)
        tables = [read_table(sheet, max_rows, max_cells) for sheet in sheets]
    except FileRejected as exc:
        report.error(Position(""), exc.message)
        return report, None
    tables = classify(tables, report)
    if not report.ok:
        return report, None
    if C.PROBLEMS in tables:
        report.shape = THREE_SHEETS
        report.problems = three_sheet_drafts(tables, report)
    else:
        report.shape = SINGLE_SHEET
        report.problems = single_sheet_drafts(tables["single"], report)
    if not report.problems and report.ok:
        report.error(Position(next(iter(tables.values())).title), _l("The ledger has no problems to import."))
    rows = len(report.problems) + report.measure_count
    progress.phase(CHECKING, rows)
    # Each row counts half once its cells are resolved, the other half once the services' checks passed.
    Resolver(actor, clock, report).resolve(lambda n: progress.step(n // 2))
    # A missing column or sheet would make the services repeat one complaint on every row.
    if any(issue.row is None for issue in report.errors):
        return report, None
    batch = _plan(report, actor, clock, lambda n: progress.step((rows + n) // 2))
    progress.step(rows)
    return report, batch


def _plan(report: ImportReport, actor: User, clock: Clock, step) -> ProblemBatch:
    """Put every valid draft through the services' checks, in the order creating them one by one
    would (sources first, then each problem and its measures), so that their own checks report too."""
    batch = ProblemBatch(actor, clock, (d.number for d in report.problems))
    sources = _plan_sources(report, batch, clock)
    checked = 0
    for draft in report.problems:
        if draft.ok and all(m.ok for m in draft.measures):
            _plan_problem(draft, sources, report, batch)
        checked += 1 + len(draft.measures)
        step(checked)
    return batch


def _plan_sources(report: ImportReport, batch: ProblemBatch, clock: Clock) -> dict[str, Source]:
    planned = {}
    for key, new in report.new_sources.items():
        first = new.drafts[0]
        unit = first.data.get("unit")
        dates = [d.data["found_on"] for d in new.drafts if d.data.get("found_on")]
        held_on = min(dates, default=clock.today())
        if unit is None:
            continue
        try:
            planned[key] = batch.add_source(name=new.name, kind=new.kind, unit=unit,
                                            held_on=min(held_on, clock.today()))
        except ServiceError as exc:
            cell = first.cells.get("source")
            report.error(cell.pos if cell else first.pos, exc.message)
    return planned


def _plan_problem(draft: ProblemDraft, sources: dict, report: ImportReport, batch: ProblemBatch) -> None:
    data = dict(draft.data)
    if data["source"] is None:
        data["source"] = sources.get(C.norm_name(draft.source_name))
        if data["source"] is None:
            return
    try:
        key = batch.add_problem(data)
    except ServiceError as exc:
        _service_error(report, exc, draft.cells, draft.pos)
        return
    draft.created_number = batch.number(key)
    for measure in draft.measures:
        try:
            batch.add_task(key, allow_past_deadline=True, **measure.data)
        except ServiceError as exc:
            _service_error(report, exc, measure.cells, measure.pos)


def _service_error(report: ImportReport, exc: ServiceError, cells: dict, pos: Position) -> None:
    """A service's field errors, each placed on the cell it is about."""
    if not exc.fields:
        report.error(pos, exc.message)
    for name, messages in exc.fields.items():
        cell = cells.get(name)
        for message in messages:
            report.error(cell.pos if cell else pos, message)
