"""Reading an uploaded ledger: file checks, then each sheet as a header and rows of cells.

Real ledgers have a title row and a unit/date row above the header, cells merged over several
rows, two-level headers and section rows ("一、政治建设方面"); this module hides all of that.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import openpyxl
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.cell_range import CellRange

from tracker.i18n import lazy_gettext as _l
from tracker.ledger.columns import column_key
from tracker.ledger.package import FileRejected, too_many_cells
from tracker.ledger.sheetxml import SheetCells
from tracker.spreadsheet import unguard

HEADER_SEARCH_ROWS = 10
PROGRESS_ROWS = 250  # load_sheets tells its progress every so many rows
# Sheets formatted out to column XFD are common; no ledger has more columns than this.
MAX_COLUMNS = 60
DAMAGED = _l("The workbook could not be read; it may be damaged. Open it in Excel, save it again as .xlsx "
             "and retry.")


@dataclass(slots=True)
class Position:
    """Where a value came from, for error reports: sheet, Excel row, column letter and header."""

    sheet: str
    row: int | None = None
    letter: str | None = None
    header: str | None = None

    @property
    def column(self) -> str | None:
        if self.letter is None:
            return self.header
        return f"{self.header} ({self.letter})" if self.header else self.letter


@dataclass(slots=True)
class Cell:
    value: object
    pos: Position
    text: str | None = None  # cell_text(value), worked out once (a 10,000-row ledger asks 250,000 times)

    def __post_init__(self):
        if self.text is None:
            self.text = cell_text(self.value)

    @property
    def empty(self) -> bool:
        return self.text == ""


@dataclass(slots=True)
class Row:
    number: int
    cells: dict[str, Cell]

    def get(self, key: str) -> Cell | None:
        return self.cells.get(key)

    def text(self, key: str) -> str:
        cell = self.cells.get(key)
        return cell.text if cell else ""


@dataclass
class Table:
    """One sheet: which column holds which kind of value, and its data rows."""

    title: str
    header_row: int = 0
    columns: dict[str, Position] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    caption: str | None = None  # the title row above the header, if any
    problems: list[tuple[Position, object]] = field(default_factory=list)  # errors
    notes: list[tuple[Position, object]] = field(default_factory=list)  # warnings

    def has(self, key: str) -> bool:
        return key in self.columns


def cell_text(value) -> str:
    """Any cell as clean text; undoes the ' our export puts before formula-like text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    # Not NFKC: that would turn Chinese punctuation (，：) into ASCII in descriptions. Names, numbers
    # and dates are NFKC-normalised where they are matched or parsed.
    return unguard(str(value).replace("\u00a0", " ").strip())


# --- the file ----------------------------------------------------------------------------------


@dataclass
class Sheet:
    """A visible sheet as read from the stream: its filled cells (within MAX_COLUMNS) and merged ranges."""

    title: str
    values: dict[tuple[int, int], object] = field(default_factory=dict)
    merged: list[CellRange] = field(default_factory=list)
    height: int = 0  # the last row holding a value: rows that are only formatted do not count
    too_tall: bool = False  # a value lies below max_rows; the rest of the sheet was not read


@dataclass
class _Budget:
    """Cells read so far over the whole workbook, against LEDGER_IMPORT_MAX_CELLS."""

    max_cells: int
    values: int = 0
    elements: int = 0
    rows: int = 0
    progress: Callable[[int], None] | None = None

    def refuse(self):
        raise FileRejected(too_many_cells(self.max_cells))


def load_sheets(data: bytes, *, max_rows: int, max_cells: int,
                progress: Callable[[int], None] | None = None) -> list[Sheet]:
    """Every visible sheet, streamed in openpyxl's read-only mode; refused past `max_cells` cells.

    Memory grows with the filled cells kept (at most `max_cells`), never with what the file declares.
    Call `check_package` first: it bounds what openpyxl itself reads whole (shared strings, styles).
    `progress(rows)` is told the rows read so far, every few hundred rows.
    """
    budget = _Budget(max_cells, progress=progress)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unsupported extensions (slicers, …) are irrelevant
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                # Hidden sheets hold drop-down lists and scratch work, not the ledger.
                return [_stream(workbook, ws, max_rows, budget) for ws in workbook.worksheets
                        if ws.sheet_state == "visible"]
            finally:
                workbook.close()
    except FileRejected:
        raise
    except Exception:  # openpyxl raises many kinds on damaged files; all mean the same to the user
        raise FileRejected(DAMAGED) from None


def _stream(workbook, ws, max_rows: int, budget: _Budget) -> Sheet:
    """One sheet's rows as openpyxl would read them (tracker.ledger.sheetxml), without the padding of rows
    and columns up to the declared dimension, which may say XFD1048576."""
    sheet = Sheet(title=ws.title)
    with ws._get_source() as source:
        parser = SheetCells(source, shared_strings=ws._shared_strings, epoch=workbook.epoch,
                            date_formats=workbook._date_formats,
                            timedelta_formats=workbook._timedelta_formats)
        for number, cells in parser.rows():
            budget.rows += 1
            if budget.progress is not None and budget.rows % PROGRESS_ROWS == 0:
                budget.progress(budget.rows)
            budget.elements += len(cells)
            if budget.rows > budget.max_cells or budget.elements > 2 * budget.max_cells:
                budget.refuse()
            for column, value in cells:
                if value is None or value == "":
                    continue
                if number > max_rows:
                    sheet.too_tall = True
                    return sheet
                budget.values += 1
                if budget.values > budget.max_cells:
                    budget.refuse()
                if column <= MAX_COLUMNS:
                    sheet.values[(number, column)] = value
                sheet.height = number
        sheet.merged = [CellRange(ref) for ref in parser.merged]
    return sheet


# --- one sheet -----------------------------------------------------------------------------------


def _merged(sheet: Sheet, height: int, max_cells: int) -> tuple[dict, dict]:
    """Every cell of a merged range → the top-left value, and → the range itself.

    Ranges may overlap and cover whole sheets; past `max_cells` covered cells the workbook is refused.
    """
    values, ranges = {}, {}
    covered = 0
    for rng in sheet.merged:
        rows = range(rng.min_row, min(rng.max_row, height) + 1)
        cols = range(rng.min_col, min(rng.max_col, MAX_COLUMNS) + 1)
        covered += len(rows) * len(cols)
        if covered > max_cells:
            raise FileRejected(too_many_cells(max_cells))
        value = sheet.values.get((rng.min_row, rng.min_col))
        for r in rows:
            for c in cols:
                values[(r, c)] = value
                ranges[(r, c)] = rng
    return values, ranges


def _find_header(grid: list[list]) -> int | None:
    """The row (index into grid) among the first rows naming the most known columns (at least 2)."""
    best, best_count = None, 1
    for i, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        count = len({k for k in (column_key(v) for v in row) if k})
        if count > best_count:
            best, best_count = i, count
    return best


def read_table(sheet: Sheet, max_rows: int, max_cells: int) -> Table:
    """A sheet as a Table; problems found while reading are kept on it, not raised (but a workbook
    whose merged ranges cover more than `max_cells` cells is refused with FileRejected)."""
    table = Table(title=sheet.title)
    height = sheet.height
    if sheet.too_tall or height > max_rows:
        table.problems.append((Position(sheet.title),
                               _l("The sheet has more than %(n)s rows; split the ledger.", n=max_rows)))
        return table
    values, ranges = _merged(sheet, height, max_cells)
    width = max((c for (_r, c) in (*sheet.values, *values)), default=1)
    grid = [[values.get((r, c), sheet.values.get((r, c))) for c in range(1, width + 1)]
            for r in range(1, max(height, 1) + 1)]
    texts = [[cell_text(v) for v in row] for row in grid]
    if not any(any(row) for row in texts):
        table.problems.append((Position(sheet.title), _l("The sheet is empty.")))
        return table
    index = _find_header(grid)
    if index is None:
        table.problems.append((Position(sheet.title), _l(
            "No header row found: none of the first %(n)s rows names the ledger's columns "
            "(问题描述, 整改措施, 责任人, 整改时限…).", n=HEADER_SEARCH_ROWS)))
        return table
    first_data = _read_header(table, grid, index, ranges)
    table.caption = _caption(grid[:index])
    _read_rows(table, grid, texts, first_data, ranges)
    return table


def _read_header(table: Table, grid: list[list], index: int, ranges: dict) -> int:
    """Fill table.columns; a header cell spanning columns takes its names from the row below."""
    header_row = index + 1
    table.header_row = header_row
    below = grid[index + 1] if index + 1 < len(grid) else []
    two_level = False
    for c, value in enumerate(grid[index], start=1):
        rng = ranges.get((header_row, c))
        name = value
        if rng is not None and rng.max_col > rng.min_col:
            sub = below[c - 1] if c - 1 < len(below) else None
            if column_key(sub):
                name, two_level = sub, True
            elif column_key(value):
                if c == rng.min_col:
                    pos = Position(table.title, header_row, get_column_letter(c), cell_text(value))
                    table.problems.append((pos, _l(
                        "The header cell %(name)s is merged over columns %(range)s; give each column its own "
                        "header.", name=cell_text(value), range=rng.coord)))
                continue
        _add_column(table, name, Position(table.title, None, get_column_letter(c), cell_text(name)))
    return index + (2 if two_level else 1)


def _add_column(table: Table, name, pos: Position) -> None:
    key = column_key(name)
    if key is None:
        return
    if key in table.columns:
        first = table.columns[key]
        table.notes.append((pos, _l("Column %(column)s is ignored: column %(first)s already gives this.",
                                    column=pos.column, first=first.column)))
        return
    table.columns[key] = pos


def _caption(rows: list[list]) -> str | None:
    """The ledger's title ("2022年巡察反馈问题整改台账"): the first text above the header that is
    not a "填报单位：…" line."""
    for row in rows:
        texts = [cell_text(v) for v in row if cell_text(v)]
        if texts and ":" not in texts[0] and "：" not in texts[0]:
            return texts[0]
    return None


def _read_rows(table: Table, grid: list[list], texts: list[list[str]], start: int, ranges: dict) -> None:
    columns = [(key, column_index_from_string(pos.letter) - 1, pos.letter, pos.header)
               for key, pos in table.columns.items()]
    width = max((len(r) for r in grid), default=0)
    merged_rows = {r for r, _c in ranges}  # a banner is a merged cell: other rows need no look
    for i in range(start, len(grid)):
        number, raw, text = i + 1, grid[i], texts[i]
        if not any(text):
            continue
        if number in merged_rows and _is_banner(text, number, ranges, width):
            table.notes.append((Position(table.title, number), _l("Row skipped as a heading: %(text)s",
                                                                  text=next(t for t in text if t))))
            continue
        cells = {}
        for key, c, letter, header in columns:
            inside = c < len(raw)
            cells[key] = Cell(raw[c] if inside else None, Position(table.title, number, letter, header),
                              text[c] if inside else "")
        table.rows.append(Row(number, cells))


def _is_banner(text: list[str], number: int, ranges: dict, width: int) -> bool:
    """A section heading or footer: its only text comes from one cell merged across ≥ 3 columns."""
    filled = [c for c, t in enumerate(text, start=1) if t]
    spans = {ranges.get((number, c)) for c in filled}
    if len(spans) != 1 or None in spans:
        return False
    rng = spans.pop()
    return rng.max_col - rng.min_col + 1 >= min(3, width) and rng.max_row == rng.min_row
