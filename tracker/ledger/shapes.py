"""The two shapes of ledger: the app's own three sheets, and the single sheet offices keep.

Both end as the same drafts: problems, each with its measures, still as cells.
"""

from __future__ import annotations

from tracker.i18n import lazy_gettext as _l
from tracker.ledger import columns as C
from tracker.ledger.reader import Cell, Position, Row, Table
from tracker.ledger.report import FIELD_COLUMN, ImportReport, MeasureDraft, ProblemDraft, column_name

# Problem field → the column kinds that may give it, best first.
PROBLEM_SPEC = {
    "number": ("number",), "source": ("source",), "source_kind": ("source_kind",),
    "category": ("category",), "description": ("description",), "unit": ("unit",),
    "found_on": ("found_on",), "responsible_leader": ("leader",), "lead_unit": ("lead_unit", "resp_unit"),
    "cooperating_units": ("coop",), "responsible_person": ("person", "specific_person"),
}
RESPONSIBILITY_FIELDS = ("number", "responsible_leader", "lead_unit", "cooperating_units",
                         "responsible_person")
MEASURE_SPEC = {
    "number": ("number",), "measure": ("measure",), "target": ("target",), "type": ("type",),
    "period": ("period",), "unit": ("resp_unit", "lead_unit"), "owner": ("specific_person", "person"),
    "deadline": ("deadline",), "state": ("state",),
}
# A row carries a measure when any of these is filled in.
MEASURE_MARKERS = ("measure", "target", "type", "deadline")


def classify(tables: list[Table], report: ImportReport) -> dict[str, Table]:
    """Which sheet is which list: by the sheet's name, else by its columns."""
    found: dict[str, Table] = {}
    for table in tables:
        if C.norm_header(table.title) in {C.norm_header(n) for n in C.INSTRUCTIONS_SHEET}:
            continue
        kind = C.sheet_kind(table.title) or _kind_by_columns(table, found)
        if kind and kind not in found:
            found[kind] = table
            for pos, message in table.problems:
                report.error(pos, message)
            for pos, message in table.notes:
                report.warn(pos, message)
    if not found:
        for table in tables:
            for pos, message in table.problems:
                report.error(pos, message)
        if not report.errors:
            report.error(Position(""), _l("No ledger sheet found in the workbook."))
    elif C.PROBLEMS not in found and "single" not in found:
        sheet = found.get(C.MEASURES) or next(iter(found.values()))
        report.error(Position(sheet.title), _l("The sheet %(sheet)s is missing.",
                                               sheet=C.SHEET_NAMES[C.PROBLEMS][0]))
    return found


def _kind_by_columns(table: Table, found: dict) -> str | None:
    if not table.columns:
        return None
    if table.has("measure") and table.has("description"):
        return "single"
    if table.has("measure"):
        return C.MEASURES
    if table.has("description") and C.PROBLEMS not in found and "single" not in found:
        return C.PROBLEMS
    if table.has("leader") or table.has("lead_unit"):
        return C.RESPONSIBILITIES
    return None


def _pick(table: Table, spec: dict) -> dict[str, str]:
    """field → the column kind that gives it in this table."""
    picked = {}
    for name, keys in spec.items():
        key = next((k for k in keys if table.has(k)), None)
        if key:
            picked[name] = key
    return picked


def _cells(row: Row, mapping: dict[str, str]) -> dict[str, Cell]:
    return {name: row.cells[key] for name, key in mapping.items()}


def _require_columns(table: Table, mapping: dict, fields: tuple, report: ImportReport) -> None:
    for name in fields:
        if name not in mapping:
            report.missing.add(name)
            key = FIELD_COLUMN.get(name, name)
            report.error(Position(table.title), _l("Column %(column)s is missing.",
                                                  column=column_name(key, report.lang)))


# --- the two shapes ------------------------------------------------------------------------------


def single_sheet_drafts(table: Table, report: ImportReport) -> list[ProblemDraft]:
    """One row per measure; consecutive rows with the same problem (merged cells) form one problem."""
    pmap, mmap = _pick(table, PROBLEM_SPEC), _pick(table, MEASURE_SPEC)
    mmap.pop("number", None)
    required = ("description", "category", "lead_unit", "measure", "owner", "deadline")
    _require_columns(table, {**pmap, **mmap}, required, report)
    if "source" not in pmap and not table.caption:
        _require_columns(table, pmap, ("source",), report)
    drafts: list[ProblemDraft] = []
    current, current_key = None, None
    for row in table.rows:
        if C.is_example_row(row.text("seq")):
            continue
        key = (row.text(pmap.get("number", "")), row.text(pmap.get("description", "")))
        if key == ("", ""):
            cell = row.get(pmap.get("description", ""))
            report.error(cell.pos if cell else Position(table.title, row.number), _l(
                "This row has no problem: fill in the problem description, or merge the problem's cells "
                "down over all its measures."))
            continue
        if current is None or key != current_key:
            current = ProblemDraft(Position(table.title, row.number), _cells(row, pmap))
            current.source_name = "" if "source" in pmap else (table.caption or "")
            drafts.append(current)
            current_key = key
        if any(not row.get(mmap[m]).empty for m in MEASURE_MARKERS if m in mmap):
            current.measures.append(MeasureDraft(Position(table.title, row.number), _cells(row, mmap)))
    return drafts


def three_sheet_drafts(tables: dict[str, Table], report: ImportReport) -> list[ProblemDraft]:
    """The app's own export: problems, responsibilities and measures joined on the problem number."""
    problems = tables[C.PROBLEMS]
    pmap = _pick(problems, PROBLEM_SPEC)
    _require_columns(problems, pmap, ("number", "description", "category", "source"), report)
    drafts, by_number = [], {}
    for row in problems.rows:
        if C.is_example_row(row.text("seq")):
            continue
        draft = ProblemDraft(Position(problems.title, row.number), _cells(row, pmap))
        drafts.append(draft)
        by_number.setdefault(draft.number, draft)
    resp = tables.get(C.RESPONSIBILITIES)
    if resp is not None:
        _merge_responsibilities(resp, by_number, report)
    elif "lead_unit" not in pmap:
        report.missing.add("lead_unit")
        report.error(Position(problems.title), _l("The sheet %(sheet)s is missing.",
                                                  sheet=C.SHEET_NAMES[C.RESPONSIBILITIES][0]))
    if C.MEASURES in tables:
        _attach_measures(tables[C.MEASURES], by_number, report)
    return drafts


def _merge_responsibilities(table: Table, by_number: dict, report: ImportReport) -> None:
    rmap = _pick(table, {f: PROBLEM_SPEC[f] for f in RESPONSIBILITY_FIELDS})
    _require_columns(table, rmap, ("number", "lead_unit"), report)
    seen: set[str] = set()
    for row in table.rows:
        if C.is_example_row(row.text("seq")) or "number" not in rmap:
            continue
        cells = _cells(row, rmap)
        number = C.norm_text(cells["number"].text)
        draft = by_number.get(number) if number else None
        if draft is None:
            report.error(cells["number"].pos, _l("Problem number %(number)s is not in the problem list.",
                                                 number=number or "—"))
            continue
        if number in seen:
            report.error(cells["number"].pos, _l("Problem number %(number)s has more than one row here.",
                                                 number=number))
            continue
        seen.add(number)
        for name, cell in cells.items():
            if name != "number" and (name not in draft.cells or draft.cells[name].empty):
                draft.cells[name] = cell


def _attach_measures(table: Table, by_number: dict, report: ImportReport) -> None:
    mmap = _pick(table, MEASURE_SPEC)
    _require_columns(table, mmap, ("number", "measure", "owner", "deadline"), report)
    if "number" not in mmap:
        return
    for row in table.rows:
        if C.is_example_row(row.text("seq")):
            continue
        cells = _cells(row, mmap)
        draft = by_number.get(C.norm_text(cells["number"].text))
        if draft is None:
            report.error(cells["number"].pos, _l(
                "This measure has no problem: problem number %(number)s is not in the problem list.",
                number=cells["number"].text or "—"))
            continue
        draft.measures.append(MeasureDraft(Position(table.title, row.number), cells))
