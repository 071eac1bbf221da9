"""A worksheet's cell values streamed straight from its XML with lxml.

What openpyxl's WorkSheetParser gives with `data_only=True` (the cached value of a formula, shared and
inline strings, numbers, booleans, dates by the cell's number format), without building an object per
element: openpyxl's parser spent half of a 10,000-row import turning every inline string into a rich
text object. openpyxl still opens the workbook (shared strings, styles, the date formats, sheet
names and states); this module reads only the sheets' rows and merged ranges. Entities are never
expanded, nothing is fetched; each row is dropped from the tree once read, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.xml.constants import SHEET_MAIN_NS

_NS = f"{{{SHEET_MAIN_NS}}}"
ROW, CELL, VALUE, MERGE = f"{_NS}row", f"{_NS}c", f"{_NS}v", f"{_NS}mergeCell"
INLINE, TEXT, RUN = f"{_NS}is", f"{_NS}t", f"{_NS}r"
DIGITS = "0123456789"


class SheetCells:
    """The rows of one worksheet part; `merged` holds the merged ranges' refs once `rows` is exhausted."""

    def __init__(self, source, *, shared_strings, epoch, date_formats, timedelta_formats):
        self.source = source
        self.shared_strings = shared_strings
        self.epoch = epoch
        self.date_formats = date_formats
        self.timedelta_formats = timedelta_formats
        self.merged: list[str] = []

    def rows(self) -> Iterator[tuple[int, list[tuple[int, object]]]]:
        """(row number, [(column, value), …]) for every row element, as openpyxl numbers them."""
        number = 0
        for _event, element in etree.iterparse(self.source, events=("end",), tag=(ROW, MERGE),
                                               resolve_entities=False, no_network=True, load_dtd=False,
                                               huge_tree=False):
            if element.tag == MERGE:
                ref = element.get("ref")
                if ref:
                    self.merged.append(ref)
            else:
                given = element.get("r")
                number = _row_number(given) if given else number + 1
                yield number, self._cells(element)
            _drop(element)

    def _cells(self, row) -> list[tuple[int, object]]:
        cells, column, value = [], 0, self._value
        for cell in row.iterchildren(CELL):
            ref = cell.get("r")
            column = column_index_from_string(ref.rstrip(DIGITS)) if ref else column + 1
            cells.append((column, value(cell)))
        return cells

    def _value(self, cell):
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            rich = cell.find(INLINE)
            if rich is None:
                return None
            plain = rich.findtext(TEXT)
            if plain is not None and len(rich) == 1:  # the usual <is><t>…</t></is>
                return plain
            return (plain or "") + "".join(r.findtext(TEXT) or "" for r in rich.iterfind(RUN))
        value = cell.findtext(VALUE)
        if not value:
            return None
        if kind == "n":
            number = float(value) if "." in value or "E" in value or "e" in value else int(value)
            style = int(cell.get("s") or 0)
            if style in self.date_formats:
                try:
                    return from_excel(number, self.epoch, timedelta=style in self.timedelta_formats)
                except (OverflowError, ValueError):
                    return "#VALUE!"
            return number
        if kind == "s":
            return self.shared_strings[int(value)]
        if kind == "b":
            return bool(int(value))
        if kind == "d":
            return from_ISO8601(value)
        return value  # "str" (a formula's text), "e" (an error such as #N/A)


def _row_number(given: str) -> int:
    try:
        return int(given)
    except ValueError:
        number = float(given)
        if not number.is_integer():
            raise
        return int(number)


def _drop(element) -> None:
    """Forget a row (or range) once read, and the siblings before it."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
