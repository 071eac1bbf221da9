"""tracker.ledger.sheetxml reads every sheet exactly as openpyxl's own parser (data_only) reads it: the
same row numbers, columns and values, and the same merged ranges."""

from __future__ import annotations

import io
import warnings
from datetime import date, datetime, time

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.worksheet._reader import WorkSheetParser
from test_ledger_import import GOOD, real_world_ledger, workbook

from benchmarks import ledger_hostile as hostile
from tracker.ledger.sheetxml import SheetCells

STYLES = ('<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/'
          'spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy/m/d"/>'
          '</numFmts>'
          '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/>'
          '<xf numFmtId="21" applyNumberFormat="1"/></cellXfs></styleSheet>')


def by_openpyxl(data: bytes) -> list:
    sheets = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        for ws in wb.worksheets:
            with ws._get_source() as source:
                parser = WorkSheetParser(source, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                         date_formats=wb._date_formats,
                                         timedelta_formats=wb._timedelta_formats)
                rows = [(n, [(c["column"], c["value"]) for c in cells]) for n, cells in parser.parse()]
                merged = [m.ref for m in parser.merged_cells.mergeCell] if parser.merged_cells else []
            sheets.append((rows, merged))
        wb.close()
    return sheets


def by_sheetxml(data: bytes) -> list:
    sheets = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        for ws in wb.worksheets:
            with ws._get_source() as source:
                parser = SheetCells(source, shared_strings=ws._shared_strings, epoch=wb.epoch,
                                    date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
                rows = list(parser.rows())
            sheets.append((rows, parser.merged))
        wb.close()
    return sheets


def every_kind_by_hand() -> bytes:
    """Shared strings, a formula's text and cached number, an error, booleans, ISO and serial dates, a
    time, inline rich text with a phonetic run, rows and cells without references, a merged range."""
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="str"><f>A1&amp;"x"</f><v>序号x</v></c>'
        '<c r="D1" t="e"><v>#N/A</v></c><c r="E1" t="b"><v>1</v></c><c r="F1" t="b"><v>0</v></c></row>'
        '<row r="3"><c r="A3" s="1"><v>44926</v></c><c r="B3" s="2"><v>0.5</v></c><c r="C3" t="d">'
        '<v>2022-12-31T00:00:00</v></c><c r="D3"><f>1+1</f><v>2</v></c><c r="E3"><v>1.5E3</v></c></row>'
        '<row><c t="inlineStr"><is><r><t>整改</t></r><r><rPr><b/></rPr><t xml:space="preserve"> 措施 </t></r>'
        '<rPh sb="0" eb="1"><t>ZG</t></rPh></is></c><c t="inlineStr"><is><t>纯文本</t></is></c>'
        '<c t="inlineStr"/><c><v></v></c><c t="s"><v>2</v></c></row>'
        '<row r="7.0"><c r="B7"><v>7</v></c></row>'
    )
    parts = hostile._basic()
    parts["xl/styles.xml"] = STYLES
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        "</Types>", '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
                    'officedocument.spreadsheetml.styles+xml"/></Types>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        "</Relationships>", f'<Relationship Id="rId9" Type="{hostile.REL}styles" Target="styles.xml"/>'
                            "</Relationships>")
    parts["xl/worksheets/sheet1.xml"] = hostile._sheet(
        rows, merges='<mergeCells count="2"><mergeCell ref="A3:A5"/><mergeCell ref="B1:C1"/></mergeCells>')
    return hostile._zip(parts)


def written_by_openpyxl() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["文本", 1, 2.5, True, date(2026, 5, 1), datetime(2026, 5, 1, 8, 30), time(9, 15), None,
               "=1+1"])
    ws.append([CellRichText(["普通", TextBlock(InlineFont(b=True), "加粗")]), "", " 空格 ", -3])
    ws.merge_cells("A5:C6")
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


WORKBOOKS = {
    "every kind of cell, by hand": every_kind_by_hand,
    "written by openpyxl": written_by_openpyxl,
    "three sheets": lambda: workbook(GOOD),
    "single sheet with merged cells": real_world_ledger,
    "huge declared dimension": hostile.huge_dimension,
}


@pytest.mark.parametrize("name", WORKBOOKS)
def test_sheetxml_reads_what_openpyxl_reads(name):
    data = WORKBOOKS[name]()
    expected = by_openpyxl(data)
    assert by_sheetxml(data) == expected
    assert any(rows for rows, _ in expected)
