"""Hostile ledger workbooks are refused before they cost time or memory; real ledgers still import.

The workbooks are built here (benchmarks/ledger_hostile.py holds the builders, which also time the
refusals). How quickly they are refused is for the benchmark, not for these tests.
"""

from __future__ import annotations

import io
import struct
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from test_ledger_import import GOOD, attempt, checked, counts, real_world_ledger, upload, workbook

from benchmarks import ledger_hostile as hostile
from tracker.extensions import db
from tracker.ledger.export import build_template_xlsx
from tracker.ledger.package import FileRejected, check_package
from tracker.org import services as org_services
from tracker.problems.models import Category
from tracker.tasks.models import Task

MB = 1024 * 1024
CELLS = "The workbook holds more than 300,000 cells"
BOMB = "A part of the workbook is compressed far more than any real spreadsheet (a zip bomb)"
ROWS = "The workbook has more than 300,000 rows, most of them empty"
TOO_LARGE = "The workbook unpacks to more than 34 MB"
PARTS = "The workbook has more than 1000 parts"
SHEETS = "The workbook has more than 50 sheets"
DAMAGED = "The workbook could not be read; it may be damaged."

# name → (builder, max_bytes, the start of the one message)
CASES = {
    "2M cells in 70 KB": (hostile.many_cells, None, BOMB),
    "1.5M shared strings": (hostile.huge_shared_strings, None, BOMB),
    "1M formatted rows": (hostile.many_rows, None, BOMB),
    "3000 sheets": (hostile.many_sheets, None, PARTS),
    "5000 merged ranges over the sheet": (hostile.merged_ranges, None, CELLS),
    "zip bomb part": (hostile.zip_bomb, None, TOO_LARGE),
    "not a zip": (hostile.not_a_zip, None, "This is not an Excel workbook (.xlsx)."),
    # Stored (uncompressed) parts have no ratio to give them away: the counting refuses them.
    "2M cells, stored": (lambda: hostile.many_cells(stored=True), 64 * MB, CELLS),
    "1.5M shared strings, stored": (lambda: hostile.huge_shared_strings(stored=True), 64 * MB, CELLS),
    "1M formatted rows, stored": (lambda: hostile.many_rows(stored=True), 64 * MB, ROWS),
    "400k cells, stored": (lambda: hostile.many_cells(400_000, 40, stored=True), 64 * MB, CELLS),
    "60 sheets": (lambda: hostile.many_sheets(60), None, SHEETS),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_workbook_is_refused(org, clock, case):
    build, max_bytes, message = CASES[case]
    kw = {"max_bytes": max_bytes} if max_bytes else {}
    report, issues = attempt(build(), org.mgr_root, clock, **kw)
    assert report.shape is None  # refused as a file, before any sheet was classified
    assert len(issues) == 1 and issues[0][3].startswith(message), issues
    assert counts() == (0, 0, 0)


def test_a_huge_declared_dimension_is_not_padded(org, clock):
    """A1:XFD1048576 and a styled empty cell at the far corner: read as the two rows it holds."""
    report, issues = attempt(hostile.huge_dimension(), org.mgr_root, clock)
    assert report.shape is not None  # read; what it lacks is ledger columns
    assert issues and {i[1] for i in issues} <= {None, 2}, issues  # row 2 is its only data row


def _workbook_of_values(count: int) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["序号", "问题描述", "整改措施", "责任人", "整改时限"])
    for i in range(count // 5):
        ws.append([i, f"问题{i}", f"措施{i}", "张三", "2026-12-31"])
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


def test_cells_are_counted_while_streaming(org, clock):
    """Within what the package check lets through (cell elements up to twice the limit), the filled cells
    are counted as the sheets stream, against LEDGER_IMPORT_MAX_CELLS."""
    data = _workbook_of_values(1500)
    check_package(data, 5 * MB, 1000)  # the package alone passes
    report, issues = attempt(data, org.mgr_root, clock, max_cells=1000)
    assert [i[3] for i in issues] == [
        "The workbook holds more than 1,000 cells; a ledger needs far fewer. Delete unused sheets, rows and "
        "columns, or split the ledger, and try again."]
    assert counts() == (0, 0, 0)


def test_a_part_larger_than_it_declares_is_refused(org, clock):
    """The zip's directory says 100 bytes; the part inflates to 20 MB of XML."""
    parts = {name: body for name, body in hostile._basic().items()}
    parts["xl/worksheets/sheet1.xml"] = hostile._sheet(hostile._header_row() + " " * (20 * MB))
    data = bytearray(hostile._zip(parts))
    at = data.rfind(b"xl/worksheets/sheet1.xml")  # its central directory entry's name
    header = at - 46
    assert data[header:header + 4] == b"PK\x01\x02"
    data[header + 24:header + 28] = struct.pack("<I", 100)  # uncompressed size
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size == 100
    with pytest.raises(FileRejected):
        check_package(bytes(data), 5 * MB, 300_000)
    report, issues = attempt(bytes(data), org.mgr_root, clock)
    assert len(issues) == 1 and issues[0][3].startswith((DAMAGED, BOMB)), issues


def test_the_import_page_refuses_in_the_users_language(org, login_as, app, make):
    data = hostile.many_cells(400_000, 40, stored=True)  # 9 MB: over the page's size limit first
    client = login_as(org.mgr_root)
    assert "文件超过了" in upload(client, data).get_data(as_text=True)
    app.config["LEDGER_IMPORT_MAX_BYTES"] = 64 * MB
    # The package passes; the cells are counted while the check job streams the sheets, and the page of
    # the job then shows the refusal beside the file field, as the upload page would.
    response, _ = checked(client, data)
    page = response.get_data(as_text=True)
    assert 'data-error-for="file"' in page
    assert "工作簿的单元格超过 300,000 个" in page
    org_services.set_preferences(org.mgr_root, make.clock, language="en")
    db.session.commit()
    page = checked(client, data)[0].get_data(as_text=True)
    assert CELLS in page
    assert counts() == (0, 0, 0)


def test_the_cli_gives_the_same_refusal(org, runner, tmp_path, app):
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(hostile.many_cells())
    for lang, text in (("en", BOMB), ("zh_CN", "工作簿中有部分内容的压缩比远超任何真实的表格")):
        result = runner.invoke(args=["import-ledger", str(path), "--lang", lang])
        assert result.exit_code == 1
        assert text in result.output, result.output
    assert counts() == (0, 0, 0)


def test_a_real_ledger_and_the_template_still_import(org, clock):
    report, issues = attempt(real_world_ledger(), org.mgr_root, clock)
    assert issues == [] and report.measure_count == 5
    db.session.rollback()
    report, issues = attempt(workbook(GOOD), org.mgr_root, clock)
    assert issues == [] and report.measure_count == 3
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 3
    stream = io.BytesIO()
    names = db.session.scalars(sa.select(Category.name)).all()
    build_template_xlsx(stream, categories=names)
    with force_locale("en"):
        report, issues = attempt(stream.getvalue(), org.mgr_root, clock)
    assert report.shape is not None  # read as a ledger; its example rows are not data
    assert not any(i[3].startswith((CELLS, BOMB, TOO_LARGE, DAMAGED)) for i in issues)
