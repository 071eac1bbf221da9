"""The ledger export writes its rows as SpreadsheetML text: the same workbook openpyxl writes cell by cell.

`openpyxl_ledger` is how `build_ledger_xlsx` used to write (every row through openpyxl's write-only
`append`, the 责任清单 from ORM objects and their relationships); the streamed workbook must read back
the same, cell for cell with its formats, and be the same file, part for part, byte for byte (but for
the creation time openpyxl stamps in docProps/core.xml).
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import TODAY
from openpyxl import Workbook
from openpyxl.utils.datetime import to_excel

from tracker import scope
from tracker.enums import PeriodKind, TaskState, TaskType
from tracker.extensions import db
from tracker.ledger import columns as C
from tracker.ledger import export, xlsx_stream
from tracker.problems.models import Problem
from tracker.review.models import Rating
from tracker.tasks.models import Task

HOSTILE = [
    "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", " =1", "\t=1", "  leading", "trailing  ",
    "a&b <c> \"d\" 'e'", "&amp;", "]]>", "line\nbreak", "carriage\rreturn", "crlf\r\nend", "bell\x07dropped",
    "#N/A", "#DIV/0!", "emoji 😀 and 𠀀", "\u3000全角空格", "全角空格\u3000", "", "SAMPLE", "x" * 40000,
    "普通文字",
]


def orm_responsibility_rows(actor, where: tuple):
    """The 责任清单 rows from ORM objects, as the export read them before it read plain rows."""
    stmt = sa.select(Problem).where(*where).order_by(Problem.number)
    if actor is not None:
        stmt = stmt.where(scope.problem_clause(actor))
    for n, p in enumerate(db.session.scalars(stmt), start=1):
        cooperating = sorted(p.cooperating_units, key=lambda u: (u.sort_order, u.id))
        yield [n, p.number, p.description, p.responsible_leader.name if p.responsible_leader else None,
               p.lead_unit.name, "、".join(u.name for u in cooperating),
               p.responsible_person.name if p.responsible_person else None]


def openpyxl_ledger(actor, clock, *, lang="zh_CN", task_where=()) -> bytes:
    """The three sheets written cell by cell through openpyxl (what build_ledger_xlsx did before)."""
    problem_where = (Problem.id.in_(sa.select(Task.problem_id).where(*task_where)),) if task_where else ()
    wb = Workbook(write_only=True)
    sheets = ((C.PROBLEMS, export._problem_rows(actor, lang, 1000, problem_where)),
              (C.RESPONSIBILITIES, orm_responsibility_rows(actor, problem_where)),
              (C.MEASURES, export._measure_rows(actor, clock, lang, 1000, tuple(task_where))))
    for kind, rows in sheets:
        ws = export._sheet(wb, kind, lang)
        for row in rows:
            ws.append([export.safe(v) for v in row])
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


def streamed_ledger(actor, clock, **kw) -> bytes:
    stream = io.BytesIO()
    export.build_ledger_xlsx(actor, clock, stream, **kw)
    return stream.getvalue()


def cell_facts(cell) -> tuple:
    return (cell.value, cell.data_type, cell.number_format, cell.font.b, cell.fill.fgColor.rgb,
            cell.alignment.horizontal, cell.alignment.wrap_text)


def assert_same_workbook(streamed: bytes, expected: bytes, *, same_bytes: bool = True) -> None:
    got, want = (openpyxl.load_workbook(io.BytesIO(data)) for data in (streamed, expected))
    assert got.sheetnames == want.sheetnames
    for title in want.sheetnames:
        g, w = got[title], want[title]
        assert (g.max_row, g.max_column, g.freeze_panes) == (w.max_row, w.max_column, w.freeze_panes), title
        assert {k: d.width for k, d in g.column_dimensions.items()} == \
            {k: d.width for k, d in w.column_dimensions.items()}
        for got_row, want_row in zip(g.iter_rows(), w.iter_rows(), strict=True):
            assert [cell_facts(c) for c in got_row] == [cell_facts(c) for c in want_row], title
    if same_bytes:
        a, b = zipfile.ZipFile(io.BytesIO(streamed)), zipfile.ZipFile(io.BytesIO(expected))
        assert a.namelist() == b.namelist()
        for name in b.namelist():
            if name != "docProps/core.xml":  # openpyxl stamps the time it was written
                assert a.read(name) == b.read(name), name


# --- the rows as text, without a database ------------------------------------------------------------


def test_rows_as_text_are_what_openpyxl_writes_for_every_kind_of_value(tmp_path):
    dates = [date(1899, 12, 30), date(1900, 1, 1), date(1900, 2, 28), date(1900, 3, 1), date(2026, 6, 15),
             date(1800, 5, 1), date(9999, 12, 31)]
    rows = [[i, text, None, dates[i % len(dates)], 0, -7, 10**12] for i, text in enumerate(HOSTILE)]
    rows.append([None, None, "only the third"])

    def workbook():
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("数据")
        ws.column_dimensions["B"].width = 30
        ws.freeze_panes = "A2"
        ws.append(["序号", "文字", "空", "日期"])
        return wb, ws

    wb, ws = workbook()
    for row in rows:
        ws.append([export.safe(v) for v in row])
    expected = io.BytesIO()
    wb.save(expected)
    wb, ws = workbook()
    xlsx_stream.add_sample_row(ws)
    streamed = io.BytesIO()
    xlsx_stream.write_workbook(wb, {"数据": ([export.safe(v) for v in row] for row in rows)}, streamed)
    assert_same_workbook(streamed.getvalue(), expected.getvalue())


def test_serial_days_are_openpyxls():
    day = date(1899, 12, 1)
    while day < date(1900, 4, 1):
        assert xlsx_stream.excel_day(day) == to_excel(day), day
        day += timedelta(days=1)


def test_a_value_a_ledger_never_holds_is_refused_not_written_wrong():
    for value in (1.5, True, datetime(2026, 1, 1, 8, 0)):
        with pytest.raises(TypeError):
            list(xlsx_stream.row_elements([[value]], "2"))


# --- the ledger ----------------------------------------------------------------------------------


@pytest.fixture
def varied(org, make):
    """40 problems (leaders, persons and cooperating units or none) and 320 measures of every kind,
    with text a spreadsheet could take for a formula, XML could choke on, or Excel would cut."""
    first, second, third = (make.unit(code, name, parent=org.root)
                            for code, name in (("C1", "宣传科"), ("C2", "组织科"), ("C3", "纪检组")))
    second.sort_order, first.sort_order, third.sort_order = 1, 2, 2  # a tie goes by id
    cooperating = [[], [first], [third, first], [third, second, first]]
    problems = []
    for i in range(40):
        unit = org.a if i % 4 else org.b
        problems.append(make.problem(
            org.mgr_root, unit, number=f"2026-{i:03d}", responsible_leader=org.mgr_root if i % 3 else None,
            responsible_person=org.staff_a if i % 5 else None, cooperating_units=cooperating[i % 4]))
    for i, problem in enumerate(problems):  # text the forms would refuse, as old ledgers may hold
        db.session.execute(sa.update(Problem).where(Problem.id == problem.id)
                           .values(description=HOSTILE[i % len(HOSTILE)]))
    moment = datetime(2026, 6, 1, 18, 30)  # 02:30 the next day in Shanghai
    rows = []
    for i in range(320):
        problem = problems[i % 40]
        owner, unit = (org.staff_b, org.b) if problem.unit_id == org.b.id else (org.staff_a1, org.a1)
        state = list(TaskState)[i % len(TaskState)]
        ongoing = i % 6 == 0
        done = state in (TaskState.SUBMITTED, TaskState.CLOSED)
        deadline = None if ongoing and i % 12 == 0 else TODAY + timedelta(days=(i * 37) % 300 - 150)
        rows.append({
            "problem_id": problem.id, "owner_id": owner.id, "unit_id": unit.id,
            "measure": f"{HOSTILE[i % len(HOSTILE)]} 措施{i}",
            "target": HOSTILE[(i + 3) % len(HOSTILE)] if i % 2 else None,
            "type": TaskType.ONGOING if ongoing else TaskType.IMMEDIATE if i % 6 == 1 else TaskType.DEADLINE,
            "period": list(PeriodKind)[i % 4] if ongoing and i % 12 else None,
            "deadline": deadline,
            "original_deadline": deadline - timedelta(days=10) if deadline and i % 5 == 0 else None,
            "state": state, "result": HOSTILE[(i + 7) % len(HOSTILE)] if done else None,
            "submitted_at": moment if done else None,
            "closed_at": moment if state == TaskState.CLOSED else None,
            "closed_on": moment.date() if state == TaskState.CLOSED else None,
            "rating": list(Rating)[i % 3] if state == TaskState.CLOSED and i % 2 else None,
            "round": 1 + i % 3,
        })
    db.session.execute(sa.insert(Task), rows)
    db.session.commit()
    return org


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_whole_ledger_is_the_workbook_openpyxl_writes(varied, clock, lang):
    expected = openpyxl_ledger(None, clock, lang=lang)
    assert_same_workbook(streamed_ledger(None, clock, lang=lang, chunk=7), expected)
    wb = openpyxl.load_workbook(io.BytesIO(expected))
    assert [ws.max_row for ws in wb.worksheets] == [41, 41, 321]


def test_a_scoped_filtered_ledger_is_the_workbook_openpyxl_writes(varied, clock):
    org = varied
    where = (Task.owner_id == org.staff_a1.id, Task.state != TaskState.CANCELLED)
    assert_same_workbook(streamed_ledger(org.mgr_a, clock, task_where=where, chunk=5),
                         openpyxl_ledger(org.mgr_a, clock, task_where=where))
    assert_same_workbook(streamed_ledger(org.staff_b, clock), openpyxl_ledger(org.staff_b, clock))


def test_cooperating_units_in_their_order_ties_by_id(varied, clock):
    wb = openpyxl.load_workbook(io.BytesIO(streamed_ledger(None, clock)))
    coop = {row[1]: row[5] for row in wb["责任清单"].iter_rows(min_row=2, values_only=True)}
    assert coop["2026-000"] is None  # an empty cell, as openpyxl writes ""
    assert (coop["2026-001"], coop["2026-002"], coop["2026-003"]) == (
        "宣传科", "宣传科、纪检组", "组织科、宣传科、纪检组")


def test_an_empty_ledger_has_its_headers(org, clock):
    # The streamed one always has the date style (unused here), so only the cells compare.
    assert_same_workbook(streamed_ledger(org.staff_b, clock), openpyxl_ledger(org.staff_b, clock),
                         same_bytes=False)


def test_characters_xml_cannot_hold_are_dropped_instead_of_failing_the_export(org, make, clock):
    make.task(org.mgr_a, owner=org.staff_a, measure="非字符\ufffe\uffff与控制\x01字符")
    db.session.commit()
    wb = openpyxl.load_workbook(io.BytesIO(streamed_ledger(None, clock)))
    assert wb["整改清单"]["C2"].value == "非字符与控制字符"
