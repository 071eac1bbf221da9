"""Hostile ledger workbooks, and how long and how much memory the import takes to refuse each.

    .venv/bin/python -m benchmarks.ledger_hostile [--timeout 120]

Each workbook is built here with zipfile (a few KB to ~1 MB on disk), then handed to
`run_import` in a child process of its own, so that its peak RSS is that workbook's alone.
The table shows the seconds to the answer, the peak RSS growth and the first message.
Every import gets `max_bytes` of 64 MB, so that the stored (uncompressed) workbooks, which have
no compression ratio to give them away, reach the counting. `tests/test_ledger_hostile.py` builds
the same workbooks and checks each is refused.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{sheets}"
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" '
              'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
RNS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
HEADER = ["序号", "问题描述", "整改措施", "责任单位", "责任人", "整改时限"]


def _workbook_parts(sheet_count: int) -> dict[str, str]:
    numbers = range(1, sheet_count + 1)
    sheets = "".join(f'<sheet name="Sheet{n}" sheetId="{n}" r:id="rId{n}"/>' for n in numbers)
    rels = "".join(f'<Relationship Id="rId{n}" Type="{REL}worksheet" Target="worksheets/sheet{n}.xml"/>'
                   for n in range(1, sheet_count + 1))
    rels += (f'<Relationship Id="rId{sheet_count + 1}" Type="{REL}sharedStrings" '
             'Target="sharedStrings.xml"/>')
    return {
        "[Content_Types].xml": CONTENT_TYPES.format(
            sheets="".join(SHEET_TYPE.format(n=n) for n in range(1, sheet_count + 1))),
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook {NS} {RNS}><sheets>{sheets}'
                           "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships '
                                      'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                                      f"{rels}</Relationships>",
    }


def _strings(texts: list[str]) -> str:
    items = "".join(f"<si><t>{t}</t></si>" for t in texts)
    n = len(texts)
    return f'<?xml version="1.0" encoding="UTF-8"?><sst {NS} count="{n}" uniqueCount="{n}">{items}</sst>'


def _header_row() -> str:
    cells = "".join(f'<c t="s"><v>{i}</v></c>' for i in range(len(HEADER)))
    return f'<row r="1">{cells}</row>'


def _sheet(rows: str, dimension: str = "", merges: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}>{dim}<sheetData>{rows}</sheetData>' \
           f"{merges}</worksheet>"


def _zip(parts: dict[str, str | bytes], streamed: dict | None = None, stored: bool = False) -> bytes:
    """A deflated (or stored) zip; `streamed` maps a part name to an iterable of byte chunks (written
    without holding the whole part in memory). Stored parts have no compression ratio to give them away."""
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method, compresslevel=None if stored else 9) as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
        for name, chunks in (streamed or {}).items():
            with zf.open(name, "w", force_zip64=True) as part:
                for chunk in chunks:
                    part.write(chunk)
    return out.getvalue()


def _basic(sheet_count: int = 1) -> dict[str, str]:
    parts = _workbook_parts(sheet_count)
    parts["xl/sharedStrings.xml"] = _strings(HEADER)
    return parts


# --- the hostile workbooks -------------------------------------------------------------------------


def many_cells(cells: int = 2_000_000, width: int = 200, stored: bool = False) -> bytes:
    """A ~100 KB file whose one sheet holds `cells` numbers (no cell references: they compress away)."""
    row = ("<row>" + "<c><v>1</v></c>" * width + "</row>").encode()

    def chunks():
        yield _sheet("").split("<sheetData>")[0].encode() + b"<sheetData>" + _header_row().encode()
        for _ in range(cells // width):
            yield row
        yield b"</sheetData></worksheet>"

    parts = _basic()
    return _zip(parts, {"xl/worksheets/sheet1.xml": chunks()}, stored=stored)


def huge_shared_strings(count: int = 1_500_000, stored: bool = False) -> bytes:
    """A shared-string table of `count` entries behind a sheet of a header row."""
    def chunks():
        yield f'<?xml version="1.0" encoding="UTF-8"?><sst {NS}>'.encode()
        yield "".join(f"<si><t>{t}</t></si>" for t in HEADER).encode()
        item = b"<si><t>x</t></si>"
        for _ in range(count // 1000):
            yield item * 1000
        yield b"</sst>"

    parts = _workbook_parts(1)
    parts["xl/worksheets/sheet1.xml"] = _sheet(_header_row())
    return _zip(parts, {"xl/sharedStrings.xml": chunks()}, stored=stored)


def huge_dimension() -> bytes:
    """A sheet that claims A1:XFD1048576, with a header, one row and one styled cell far away."""
    rows = _header_row() + '<row r="2"><c t="inlineStr"><is><t>1</t></is></c></row>' \
        + '<row r="1048576"><c r="XFD1048576" s="0"/></row>'
    parts = _basic()
    parts["xl/worksheets/sheet1.xml"] = _sheet(rows, dimension="A1:XFD1048576")
    return _zip(parts)


def many_rows(rows: int = 1_000_000, stored: bool = False) -> bytes:
    """A million formatted, empty rows (each a row element with a height)."""
    def chunks():
        yield _sheet("").split("<sheetData>")[0].encode() + b"<sheetData>" + _header_row().encode()
        row = b'<row ht="20" customHeight="1"/>'
        for _ in range(rows // 1000):
            yield row * 1000
        yield b"</sheetData></worksheet>"

    return _zip(_basic(), {"xl/worksheets/sheet1.xml": chunks()}, stored=stored)


def many_sheets(count: int = 3000) -> bytes:
    """Thousands of small sheets."""
    parts = _basic(count)
    body = _sheet(_header_row())
    for n in range(1, count + 1):
        parts[f"xl/worksheets/sheet{n}.xml"] = body
    return _zip(parts)


def merged_ranges(count: int = 5000) -> bytes:
    """A few thousand merged ranges, each over every row and 60 columns of a 20,000-row sheet."""
    rows = _header_row() + '<row r="20000"><c t="inlineStr"><is><t>1</t></is></c></row>'
    merges = f'<mergeCells count="{count}">' + '<mergeCell ref="A2:BH20000"/>' * count + "</mergeCells>"
    parts = _basic()
    parts["xl/worksheets/sheet1.xml"] = _sheet(rows, merges=merges)
    return _zip(parts)


def zip_bomb(megabytes: int = 250) -> bytes:
    """A valid small workbook plus one part of `megabytes` MB of zeros (~1/1000 of that on disk)."""
    block = b"\0" * (1024 * 1024)
    parts = _basic()
    parts["xl/worksheets/sheet1.xml"] = _sheet(_header_row())
    return _zip(parts, {"xl/media/image1.png": (block for _ in range(megabytes))})


def not_a_zip() -> bytes:
    """Text named .xlsx."""
    return b"\xe5\xba\x8f\xe5\x8f\xb7,\xe9\x97\xae\xe9\xa2\x98\xe6\x8f\x8f\xe8\xbf\xb0\n" * 1000


HOSTILE = {
    "2M cells": many_cells,
    "1.5M shared strings": huge_shared_strings,
    "dimension A1:XFD1048576": huge_dimension,
    "1M formatted rows": many_rows,
    "2M cells, stored (no ratio)": lambda: many_cells(stored=True),
    "400k cells, stored": lambda: many_cells(400_000, 40, stored=True),
    "1.5M shared strings, stored": lambda: huge_shared_strings(stored=True),
    "1M formatted rows, stored": lambda: many_rows(stored=True),
    "3000 sheets": many_sheets,
    "5000 merged ranges": merged_ranges,
    "zip bomb (250 MB part)": zip_bomb,
    "not a zip": not_a_zip,
}


# --- measuring -------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _one(name: str) -> dict:
    """In this (child) process: build the workbook, then time run_import on it."""
    from flask_babel import force_locale

    from tracker import create_app
    from tracker.clock import Clock
    from tracker.enums import Role
    from tracker.extensions import db
    from tracker.ledger.importer import import_limits, run_import
    from tracker.org.models import User

    data = HOSTILE[name]()
    folder = tempfile.mkdtemp(prefix="hostile-")
    os.environ["TRACKER_INSTANCE_PATH"] = folder
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "SECRET_KEY": "bench",
                      "LOG_FORMAT": "none"})
    with app.app_context(), force_locale("en"):
        db.create_all()
        actor = User(username="bench_admin", name="Bench", role=Role.ADMIN, password_hash="x")
        db.session.add(actor)
        db.session.commit()
        base = _rss_mb()
        started = time.perf_counter()
        limits = dict(import_limits(app.config), max_bytes=64 * 1024 * 1024)
        report = run_import(data, actor, Clock.parse("2026-06-15T10:00:00"), **limits)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        message = str(report.errors[0].message) if report.errors else "accepted"
    return {"name": name, "kb": len(data) / 1024, "seconds": seconds, "growth_mb": max(0.0, peak - base),
            "message": message}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120, help="seconds per workbook before giving up")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one)))
        return
    print("| workbook | file | seconds to answer | peak RSS growth | answer |\n|---|---|---|---|---|")
    for name in HOSTILE:
        try:
            done = subprocess.run([sys.executable, "-m", "benchmarks.ledger_hostile", "--one", name],
                                  capture_output=True, text=True, timeout=args.timeout, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {name} | {r['kb']:.0f} KB | {r['seconds']:.2f} | +{r['growth_mb']:.0f} MB | "
                  f"{r['message'][:90]} |", flush=True)
        except subprocess.TimeoutExpired:
            print(f"| {name} | | > {args.timeout:.0f} (stopped) | | |", flush=True)
        except subprocess.CalledProcessError as exc:
            print(f"| {name} | | failed | | {exc.stderr.strip().splitlines()[-1][:90]} |", flush=True)


if __name__ == "__main__":
    main()
