"""Rows of a large workbook written as SpreadsheetML text, the rest of the workbook by openpyxl.

openpyxl's write-only mode keeps one row in memory but spends some 15 µs a cell binding, checking and
serialising it through lxml: 2.2 million cells of a 100k-measure ledger took half a minute. Here openpyxl
writes the workbook with each sheet's header and one sample row (so that it registers the date style);
the package is then copied with each sample row replaced by the real rows, written the way openpyxl
writes them (inline strings, ASCII with character references, dates as serial days in that style), so
the file is the same, byte for byte, as if openpyxl had written every cell.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from io import BytesIO
from itertools import islice
from typing import IO

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.utils import get_column_letter

SAMPLE = ("SAMPLE", date(2000, 1, 1))  # the row each sheet is saved with, replaced by the real rows
MAX_TEXT = 32767  # Excel's longest cell text; openpyxl cuts longer text there
EXCEL_EPOCH = date(1899, 12, 30)
ROWS_PER_WRITE = 1000
_SAMPLE_ROW = re.compile(rb'<row r="2">.*?</row>', re.S)
_DATE_STYLE = re.compile(rb' s="(\d+)"')


def add_sample_row(ws) -> None:
    """The placeholder row that `write_workbook` replaces with a sheet's rows."""
    ws.append(list(SAMPLE))


def write_workbook(wb: Workbook, rows: dict[str, Iterable[list]], stream: IO[bytes]) -> None:
    """Save `wb` (write-only, each sheet holding its header and `add_sample_row`) to `stream`, each
    sheet of `rows` (by title) carrying those rows instead of the sample. Rows are lists of str, int,
    date or None; the sheets are read in order, one row at a time."""
    skeleton = BytesIO()
    wb.save(skeleton)
    paths = {ws.path.lstrip("/"): rows[ws.title] for ws in wb.worksheets if ws.title in rows}  # once saved
    with zipfile.ZipFile(skeleton) as source, \
            zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as package:
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=member.date_time)
            info.compress_type, info.external_attr = member.compress_type, member.external_attr
            data = source.read(member)
            if member.filename in paths:
                _write_sheet(package, info, data, paths[member.filename])
            else:
                package.writestr(info, data)


def _write_sheet(package: zipfile.ZipFile, info: zipfile.ZipInfo, xml: bytes, rows: Iterable[list]) -> None:
    sample = _SAMPLE_ROW.search(xml)
    date_style = _DATE_STYLE.search(sample[0])[1].decode()
    # Through a temporary file, as openpyxl does: the zip entry's size is then known before it is
    # written, and an entry under 2 GB gets no ZIP64 header (which some spreadsheet programs refuse).
    with tempfile.TemporaryFile() as part:
        part.write(xml[:sample.start()])
        lines = row_elements(rows, date_style)
        while chunk := "".join(islice(lines, ROWS_PER_WRITE)):
            part.write(chunk.encode("ascii", "xmlcharrefreplace"))
        part.write(xml[sample.end():])
        info.file_size = part.tell()
        part.seek(0)
        with package.open(info, "w") as entry:
            shutil.copyfileobj(part, entry, 1 << 20)


def row_elements(rows: Iterable[list], date_style: str, first: int = 2) -> Iterator[str]:
    """Each row as openpyxl's writer puts it in sheetData: empty (None) cells left out."""
    letters: list[str] = []
    for r, values in enumerate(rows, start=first):
        if len(values) > len(letters):
            letters = [get_column_letter(i) for i in range(1, len(values) + 1)]
        cells = "".join(_cell(f"{letters[i]}{r}", value, date_style)
                        for i, value in enumerate(values) if value is not None)
        yield f'<row r="{r}">{cells}</row>'


def _escape(text: str) -> str:
    """Text as lxml escapes it (a CR would otherwise come back as a LF)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _cell(ref: str, value, date_style: str) -> str:
    """One cell as openpyxl's `lxml_write_cell` writes a write-only cell of this value."""
    if isinstance(value, str):
        value = value[:MAX_TEXT]
        if value in ERROR_CODES:  # openpyxl takes these texts for Excel's error values
            return f'<c r="{ref}" t="e"><v>{_escape(value)}</v></c>'
        if not value:
            return f'<c r="{ref}" t="inlineStr"></c>'
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f'<c r="{ref}" t="inlineStr"><is><t{space}>{_escape(value)}</t></is></c>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<c r="{ref}" t="n"><v>{value}</v></c>'
    if isinstance(value, date) and not isinstance(value, datetime):
        return f'<c r="{ref}" s="{date_style}" t="n"><v>{excel_day(value)}</v></c>'
    raise TypeError(f"a ledger cell cannot hold {type(value).__name__} ({ref})")


def excel_day(value: date) -> int:
    """The serial day openpyxl writes for a date (Excel's 1900 calendar, with its 29 February 1900)."""
    days = (value - EXCEL_EPOCH).days
    return days - 1 if 0 < days <= 60 else days
