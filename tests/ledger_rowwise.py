"""The ledger import as it was before issue 16: the services called row by row (create_problem and
create_task, with a flush, an audit event and a state refresh per row). Kept for the tests only, as
the reference the bulk path (tracker.problems.bulk) must match row for row and message for message.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from tracker.clock import Clock
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.ledger import columns as C
from tracker.ledger.importer import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CELLS,
    DEFAULT_MAX_ROWS,
    SINGLE_SHEET,
    THREE_SHEETS,
)
from tracker.ledger.package import FileRejected, check_package
from tracker.ledger.reader import Position, load_sheets, read_table
from tracker.ledger.report import ImportReport, ProblemDraft
from tracker.ledger.resolve import Resolver
from tracker.ledger.shapes import classify, single_sheet_drafts, three_sheet_drafts
from tracker.org.models import User
from tracker.problems import services as problem_services
from tracker.problems.models import Source
from tracker.tasks import services as task_services

# --- entry point ---------------------------------------------------------------------------------


def run_import_rowwise(data: bytes, actor: User, clock: Clock, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_rows: int = DEFAULT_MAX_ROWS, max_cells: int = DEFAULT_MAX_CELLS,
               lang: str = "zh_CN") -> ImportReport:
    """The import as it was before issue 16: check, read and validate, then the services row by row.

    `lang` names columns in messages; the messages themselves follow the current locale. The file is
    refused before anything is built from it when it is not a workbook or holds more than `max_cells`
    cells (tracker.ledger.package, then counted again while streaming).
    """
    report = ImportReport(lang=lang)
    try:
        check_package(data, max_bytes, max_cells)
        sheets = load_sheets(data, max_rows=max_rows, max_cells=max_cells)
        tables = [read_table(sheet, max_rows, max_cells) for sheet in sheets]
    except FileRejected as exc:
        report.error(Position(""), exc.message)
        return report
    tables = classify(tables, report)
    if not report.ok:
        return report
    if C.PROBLEMS in tables:
        report.shape = THREE_SHEETS
        report.problems = three_sheet_drafts(tables, report)
    else:
        report.shape = SINGLE_SHEET
        report.problems = single_sheet_drafts(tables["single"], report)
    if not report.problems and report.ok:
        report.error(Position(next(iter(tables.values())).title), _l("The ledger has no problems to import."))
    Resolver(actor, clock, report).resolve()
    # A missing column or sheet would make the services repeat one complaint on every row.
    if not any(issue.row is None for issue in report.errors):
        _apply(report, actor, clock)
    return report


# --- creating ------------------------------------------------------------------------------------


def _apply(report: ImportReport, actor: User, clock: Clock) -> None:
    """Create every valid draft through the services, so that their own checks report too."""
    try:
        sources = _create_sources(report, actor, clock)
        for draft in report.problems:
            if draft.ok and all(m.ok for m in draft.measures):
                _create_problem(draft, sources, report, actor, clock)
    except SQLAlchemyError:
        current_app.logger.exception("ledger import failed in the database")
        db.session.rollback()
        report.error(Position(""), _l("The database refused the import; nothing was imported."))


def _create_sources(report: ImportReport, actor: User, clock: Clock) -> dict[str, Source]:
    created = {}
    for key, new in report.new_sources.items():
        first = new.drafts[0]
        unit = first.data.get("unit")
        dates = [d.data["found_on"] for d in new.drafts if d.data.get("found_on")]
        held_on = min(dates, default=clock.today())
        if unit is None:
            continue
        try:
            created[key] = problem_services.save_source(actor, clock, name=new.name, kind=new.kind, unit=unit,
                                                        held_on=min(held_on, clock.today()))
        except ServiceError as exc:
            cell = first.cells.get("source")
            report.error(cell.pos if cell else first.pos, exc.message)
    return created


def _create_problem(draft: ProblemDraft, sources: dict, report: ImportReport, actor: User,
                    clock: Clock) -> None:
    data = dict(draft.data)
    if data["source"] is None:
        data["source"] = sources.get(C.norm_name(draft.source_name))
        if data["source"] is None:
            return
    try:
        problem = problem_services.create_problem(actor, clock, **data)
    except ServiceError as exc:
        _service_error(report, exc, draft.cells, draft.pos)
        return
    draft.created_number = problem.number
    for measure in draft.measures:
        try:
            task_services.create_task(problem, actor, clock, allow_past_deadline=True, notify_owner=False,
                                      **measure.data)
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
