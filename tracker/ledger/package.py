"""The .xlsx package (a zip) checked before openpyxl opens it.

A ledger of a few thousand rows unpacks to a few MB of XML. A hostile file of 100 KB can unpack to
hundreds of MB, or declare millions of cells, shared strings, sheets or merged ranges, each of which
openpyxl would turn into Python objects (30 s and 700 MB for 2 million cells). This module reads
the zip's directory, then inflates every part once in small chunks (never more than the cap,
whatever the directory declares), counting the elements that cost memory later; it refuses as soon
as a count passes its limit. The limits follow `LEDGER_IMPORT_MAX_CELLS`.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from tracker.i18n import lazy_gettext as _l

ZIP_SIGNATURE = b"PK\x03\x04"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0"  # the old .xls (and .et) format
CHUNK = 256 * 1024
MAX_ENTRIES = 1000  # a workbook of 50 sheets with drawings and comments has a few hundred parts
MAX_SHEETS = 50
MAX_RATIO = 200  # XML of a real ledger deflates 5-50x; a zip bomb 1000x
RATIO_FLOOR = 1024 * 1024  # small parts (styles of empty formatted sheets) may compress better
BYTES_PER_CELL = 120  # a cell's XML plus its share of shared strings, styles and the rest
MIN_UNPACKED = 8 * 1024 * 1024
OTHER_PART_MAX = 8 * 1024 * 1024  # styles, theme, drawings: MBs only in damaged files

NOT_XLSX = _l("This is not an Excel workbook (.xlsx). Save the ledger as .xlsx and try again.")
DAMAGED = _l("The workbook could not be read; it may be damaged. Open it in Excel, save it again as .xlsx "
             "and retry.")

# Element starts, with or without a namespace prefix; the longest match is 16 bytes.
CELL = re.compile(rb"<(?:\w{1,8}:)?c[\s>/]")
ROW = re.compile(rb"<(?:\w{1,8}:)?row[\s>/]")
MERGE = re.compile(rb"<(?:\w{1,8}:)?mergeCell[\s>/]")
STRING = re.compile(rb"<(?:\w{1,8}:)?si[\s>/]")
SHEET = re.compile(rb"<(?:\w{1,8}:)?sheet[\s>/]")
OVERLAP = 16


class FileRejected(Exception):
    """The upload is not a workbook we can read; `message` is translated (lazy)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What one import may hold; all derived from the cell limit."""

    max_cells: int

    @property
    def unpacked(self) -> int:
        """Bytes of XML all parts may unpack to (about 35 MB for 300,000 cells)."""
        return max(MIN_UNPACKED, self.max_cells * BYTES_PER_CELL)

    @property
    def cell_elements(self) -> int:
        """Cell elements, empty formatted ones included (the values alone are counted later)."""
        return 2 * self.max_cells

    @property
    def rows(self) -> int:
        return self.max_cells

    @property
    def merges(self) -> int:
        return max(1000, self.max_cells // 10)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def too_many_cells(limit: int):
    return _l("The workbook holds more than %(n)s cells; a ledger needs far fewer. Delete unused sheets, "
              "rows and columns, or split the ledger, and try again.", n=f"{limit:,}")


def check_package(data: bytes, max_bytes: int, max_cells: int) -> dict[str, int]:
    """Refuse what is too large, not really an .xlsx, or unpacks to more than a ledger could hold.
    Returns what it counted: "cells", "rows", "merges", "strings", "sheets" (elements in the XML)."""
    if len(data) > max_bytes:
        raise FileRejected(_l("The file is larger than the limit of %(size)s.", size=_size(max_bytes)))
    if data.startswith(OLE_SIGNATURE):
        raise FileRejected(_l("This is an old-format .xls workbook. Open it in Excel or WPS, save it as "
                              ".xlsx and try again."))
    if not data.startswith(ZIP_SIGNATURE):
        raise FileRejected(NOT_XLSX)
    limits = Limits(max_cells)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = _directory(zf, limits)
            return _inflate_all(zf, infos, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, NotImplementedError, zlib.error, EOFError,
            OSError):
        raise FileRejected(DAMAGED) from None


def _directory(zf: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """The zip's own listing: parts, their declared sizes and compression ratios."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise FileRejected(_l("The workbook has more than %(n)s parts; it is not an ordinary Excel file.",
                              n=MAX_ENTRIES))
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise FileRejected(_l("The file is a zip archive but not an Excel workbook (.xlsx)."))
    sheets = sum(1 for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    if sheets > MAX_SHEETS:
        raise FileRejected(_too_many_sheets())
    if sum(info.file_size for info in infos) > limits.unpacked:
        raise FileRejected(_too_large(limits))
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise FileRejected(_bomb())
    return infos


def _too_many_sheets():
    return _l("The workbook has more than %(n)s sheets; a ledger needs a few. Delete the others and try "
              "again.", n=MAX_SHEETS)


def _too_large(limits: Limits):
    return _l("The workbook unpacks to more than %(size)s; a ledger needs far less. Delete unused sheets, "
              "rows and pictures, or split the ledger.", size=_size(limits.unpacked))


def _bomb():
    return _l("A part of the workbook is compressed far more than any real spreadsheet (a zip bomb); it was "
              "not opened.")


def _inflate_all(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits) -> dict[str, int]:
    """Inflate every part in chunks (what the directory declares may be a lie), counting as we go."""
    total = 0
    counts = {"cells": 0, "rows": 0, "merges": 0, "strings": 0, "sheets": 0}
    for info in infos:
        name = info.filename
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            patterns = {"cells": CELL, "rows": ROW, "merges": MERGE}
        elif name == "xl/sharedStrings.xml":
            patterns = {"strings": STRING}
        elif name == "xl/workbook.xml":
            patterns = {"sheets": SHEET}
        else:
            patterns = {}
        part_cap = limits.unpacked if patterns else OTHER_PART_MAX
        size, tail = 0, b""
        with zf.open(info) as part:
            while chunk := part.read(CHUNK):
                size += len(chunk)
                total += len(chunk)
                if total > limits.unpacked:
                    raise FileRejected(_too_large(limits))
                if size > part_cap:
                    raise FileRejected(_too_large(limits) if patterns else _bomb())
                if size > RATIO_FLOOR and size > MAX_RATIO * max(1, info.compress_size):
                    raise FileRejected(_bomb())
                if patterns:
                    buf = tail + chunk
                    end = max(0, len(buf) - OVERLAP)  # matches starting in the tail are counted next time
                    for key, pattern in patterns.items():
                        counts[key] += sum(1 for m in pattern.finditer(buf) if m.start() < end)
                    tail = buf[end:]
                    _check_counts(counts, limits)
            if patterns and tail:
                for key, pattern in patterns.items():
                    counts[key] += sum(1 for _ in pattern.finditer(tail))
                _check_counts(counts, limits)
    return counts


def _check_counts(counts: dict, limits: Limits) -> None:
    if counts["cells"] > limits.cell_elements or counts["strings"] > limits.max_cells:
        raise FileRejected(too_many_cells(limits.max_cells))
    if counts["rows"] > limits.rows:
        raise FileRejected(_l("The workbook has more than %(n)s rows, most of them empty; delete the unused "
                              "rows and try again.", n=f"{limits.rows:,}"))
    if counts["merges"] > limits.merges:
        raise FileRejected(_l("The workbook has more than %(n)s merged cell ranges; unmerge the unused ones "
                              "and try again.", n=f"{limits.merges:,}"))
    if counts["sheets"] > MAX_SHEETS:
        raise FileRejected(_too_many_sheets())
