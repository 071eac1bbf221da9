"""Excel ledger out: the three lists in one workbook, streamed, and the import template.

Pure functions: they read the database and write to a stream; they never touch the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import IO

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.orm import aliased

from tracker import scope
from tracker.clock import Clock
from tracker.enums import OVERDUE_STATES, TaskType
from tracker.extensions import db
from tracker.ledger import columns as C
from tracker.ledger.xlsx_stream import add_sample_row, write_workbook
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem, Source, problem_cooperating_units
from tracker.spreadsheet import guard
from tracker.tasks.models import Task

CHUNK = 1000
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", start_color="FCE4D6", end_color="FCE4D6")
HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
EXAMPLE_FONT = Font(italic=True, color="808080")
# What an XML document cannot hold: control characters (openpyxl's ILLEGAL_CHARACTERS_RE), and the
# non-characters U+FFFE, U+FFFF and lone surrogates, which made lxml refuse the whole export.
NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def safe(value):
    """A cell value that Excel will never run (tracker.spreadsheet.guard).

    Characters XML cannot carry (control characters) are dropped instead of failing the export.
    """
    if not isinstance(value, str):
        return value
    return guard(NOT_IN_XML.sub("", value))


def _sheet(wb: Workbook, kind: str, lang: str, keys: Iterable[str] | None = None):
    """A write-only sheet with its styled, frozen header row and column widths."""
    title = C.SHEET_NAMES[kind][0 if lang.startswith("zh") else 1]
    ws = wb.create_sheet(title)
    keys = tuple(keys or C.SHEET_COLUMNS[kind])
    for i, key in enumerate(keys, start=1):
        ws.column_dimensions[get_column_letter(i)].width = C.COLUMNS[key].width
    ws.freeze_panes = "A2"
    header = []
    for key in keys:
        cell = WriteOnlyCell(ws, value=C.COLUMNS[key].title(lang))
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGN
        header.append(cell)
    ws.append(header)
    return ws


def _scoped(stmt, clause_of, actor):
    return stmt if actor is None else stmt.where(clause_of(actor))


def _stream(stmt, chunk: int):
    """The rows `chunk` at a time: a server-side cursor on PostgreSQL, bounded buffers everywhere."""
    return db.session.execute(stmt.execution_options(yield_per=chunk))


def _problem_rows(actor, lang: str, chunk: int, where: tuple) -> Iterator[list]:
    found_in = aliased(Unit)
    stmt = (
        sa.select(Problem.number, Source.name, Source.kind, Category.name, Problem.description,
                  found_in.name, Problem.found_on, Problem.state, Problem.closed_on)
        .join(Source, Problem.source_id == Source.id)
        .join(Category, Problem.category_id == Category.id)
        .join(found_in, Problem.unit_id == found_in.id)
        .where(*where)
        .order_by(Problem.number)
    )
    for n, r in enumerate(_stream(_scoped(stmt, scope.problem_clause, actor), chunk), start=1):
        yield [n, r[0], r[1], C.label(C.SOURCE_KIND_NAMES, r[2], lang), r[3], r[4], r[5], r[6],
               C.label(C.PROBLEM_STATE_NAMES, r[7], lang), r[8]]


def _responsibility_rows(actor, chunk: int, where: tuple) -> Iterator[list]:
    leader, person, lead_unit = aliased(User), aliased(User), aliased(Unit)
    stmt = (
        sa.select(Problem.id, Problem.number, Problem.description, leader.name, lead_unit.name, person.name)
        .join(lead_unit, Problem.lead_unit_id == lead_unit.id)
        .outerjoin(leader, Problem.responsible_leader_id == leader.id)
        .outerjoin(person, Problem.responsible_person_id == person.id)
        .where(*where)
        .order_by(Problem.number)
    )
    n = 0
    for rows in _stream(_scoped(stmt, scope.problem_clause, actor), chunk).partitions():
        cooperating = _cooperating_units([r[0] for r in rows])
        for problem_id, number, description, leader_name, lead_unit_name, person_name in rows:
            n += 1
            yield [n, number, description, leader_name, lead_unit_name,
                   "、".join(cooperating.get(problem_id, ())), person_name]


def _cooperating_units(problem_ids: list[int]) -> dict[int, list[str]]:
    """The cooperating units' names of these problems, in the units' order (one query a chunk)."""
    links = problem_cooperating_units
    names: dict[int, list[str]] = {}
    for problem_id, name in db.session.execute(
            sa.select(links.c.problem_id, Unit.name).join(Unit, Unit.id == links.c.unit_id)
            .where(links.c.problem_id.in_(problem_ids)).order_by(Unit.sort_order, Unit.id)):
        names.setdefault(problem_id, []).append(name)
    return names


def _measure_rows(actor, clock: Clock, lang: str, chunk: int, where: tuple) -> Iterator[list]:
    today = clock.today()
    stmt = (
        sa.select(Problem.number, Task.measure, Task.target, Task.type, Unit.name, User.name, Task.deadline,
                  Task.original_deadline, Task.state, Task.submitted_at, Task.result, Task.closed_on,
                  Task.period, Task.rating, Task.round)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .join(User, Task.owner_id == User.id)
        .where(*where)
        .order_by(Problem.number, Task.id)
    )
    for n, r in enumerate(_stream(_scoped(stmt, scope.task_clause, actor), chunk), start=1):
        overdue = (r.deadline is not None and r.deadline < today and r.state in OVERDUE_STATES
                   and r.type != TaskType.ONGOING)
        period = C.label(C.PERIOD_NAMES, r.period, lang) if r.period else None
        yield [n, r.number, r.measure, r.target, C.label(C.TASK_TYPE_NAMES, r.type, lang), r[4], r[5],
               r.deadline, r.original_deadline, C.label(C.TASK_STATE_NAMES, r.state, lang),
               _local_date(r.submitted_at, clock), r.result, r.closed_on, C.label(C.YES_NO, overdue, lang),
               period, C.label(C.RATING_NAMES, r.rating.value, lang) if r.rating else None, r.round]


def _local_date(moment: datetime | None, clock: Clock) -> date | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=clock.now().tzinfo)
    return moment.astimezone(clock.tz).date()


def build_ledger_xlsx(actor: User | None, clock: Clock, stream: IO[bytes], *, lang: str = "zh_CN",
                      task_where: tuple = (), chunk: int = CHUNK) -> None:
    """Write the 问题清单, 责任清单 and 整改清单 the actor may read (None: everything) to `stream`.

    Rows come from the database `chunk` at a time (a server-side cursor on PostgreSQL) and go out as
    they come (tracker.ledger.xlsx_stream): memory does not grow with the rows. `task_where` narrows
    the measures the way the rectification list's filters do, and the problems to those measures' problems.
    """
    task_where = tuple(task_where)
    problem_where = (Problem.id.in_(sa.select(Task.problem_id).where(*task_where)),) if task_where else ()
    sheets = {
        C.PROBLEMS: _problem_rows(actor, lang, chunk, problem_where),
        C.RESPONSIBILITIES: _responsibility_rows(actor, chunk, problem_where),
        C.MEASURES: _measure_rows(actor, clock, lang, chunk, task_where),
    }
    wb = Workbook(write_only=True)
    rows = {}
    for kind, values in sheets.items():
        ws = _sheet(wb, kind, lang)
        add_sample_row(ws)
        rows[ws.title] = _guarded(values)
    write_workbook(wb, rows, stream)


def _guarded(rows: Iterable[list]) -> Iterator[list]:
    for row in rows:
        yield [safe(v) for v in row]


# --- the import template ------------------------------------------------------------------------

TEMPLATE_COLUMNS = {
    C.PROBLEMS: ("seq", "number", "source", "source_kind", "category", "description", "unit", "found_on"),
    C.RESPONSIBILITIES: ("seq", "number", "description", "leader", "lead_unit", "coop", "person"),
    C.MEASURES: ("seq", "number", "measure", "target", "type", "resp_unit", "person", "deadline", "period"),
}

_EXAMPLE = {
    "number": "2022-001", "source": "2022年度巡察反馈问题",
    "description": "“三会一课”制度落实不到位，个别支部组织生活不经常。",
    "unit": "第一党支部", "found_on": date(2022, 10, 20), "leader": "王局长", "lead_unit": "第一党支部",
    "coop": "办公室、组织科", "person": "张三", "measure": "制定年度组织生活计划，每月检查落实情况。",
    "target": "组织生活按计划开展，记录完整。", "resp_unit": "第一党支部", "deadline": date(2022, 12, 31),
}

_INSTRUCTIONS = {
    "zh": [
        "整改台账导入说明",
        "1. 按“问题清单”“责任清单”“整改清单”三张表填写，以“问题编号”关联；"
        "一个问题可以有多条整改措施（整改清单中多行同一编号）。",
        "2. 序号为“示例”的行是填写示例，不会导入，可以删除。",
        "3. 人员填写姓名或用户名，单位填写名称或代码，必须与系统中的一致；重名时请填写用户名或单位代码。",
        "4. 问题类别必须是系统中已有的类别；问题来源按名称匹配，系统中没有的来源将在导入时新建。",
        "5. 日期可填写 Excel 日期或 2022-12-31、2022/12/31、2022年12月31日、2022.12.31；"
        "整改类型为立行立改、限期整改、长期坚持或分阶段整改，长期坚持可不填时限；"
        "长期坚持的措施可在“阶段性销号”列填写按月、按季度、按半年或按年度，分阶段整改未填写的按季度。",
        "6. 也可导入常见的单表台账（一行一条整改措施，问题单元格向下合并），表头行可在标题行之下。",
        "7. 导入前先预览并逐行校验；任何一行有错误，全部不导入。导入的整改措施状态均为“已交办”。",
    ],
    "en": [
        "How to fill in the ledger for import",
        "1. Fill in the three sheets (Problems, Responsibilities, Measures), linked by the problem number; "
        "a problem may have several measures (several rows with the same number).",
        "2. Rows whose No. is 'Example' are examples: they are never imported and may be deleted.",
        "3. Give people by name or username and units by name or code, as they are in the system; "
        "use the username or unit code when names are shared.",
        "4. Categories must exist in the system; sources are matched by name and created when new.",
        "5. Dates may be Excel dates or text such as 2022-12-31, 2022/12/31, 2022年12月31日, 2022.12.31. "
        "Types: Immediate, By deadline, Ongoing (an ongoing measure needs no deadline). An ongoing measure "
        "may be closed out period by period: Monthly, Quarterly, Half-yearly or Yearly in "
        "'Periodic close-out'.",
        "6. The usual single-sheet ledger (one row per measure, problem cells merged down) is accepted too.",
        "7. The import is previewed and checked row by row first; if any row is wrong, nothing is imported. "
        "Imported measures start as Assigned.",
    ],
}


def build_template_xlsx(stream: IO[bytes], *, lang: str = "zh_CN", categories: Iterable[str] = ()) -> None:
    """An empty ledger to fill in: the three sheets' headers, one example row each, and 说明."""
    zh = lang.startswith("zh")
    categories = list(categories)
    example = dict(_EXAMPLE, seq="示例" if zh else "Example", category=categories[0] if categories else "",
                   source_kind=C.label(C.SOURCE_KIND_NAMES, C.guess_source_kind(_EXAMPLE["source"]), lang),
                   type=C.label(C.TASK_TYPE_NAMES, TaskType.DEADLINE, lang))
    wb = Workbook()
    notes = wb.active
    notes.title = C.INSTRUCTIONS_SHEET[0 if zh else 1]
    notes.column_dimensions["A"].width = 120
    for line in _INSTRUCTIONS["zh" if zh else "en"]:
        notes.append([line])
    notes["A1"].font = Font(bold=True, size=14)
    for kind, keys in TEMPLATE_COLUMNS.items():
        ws = wb.create_sheet(C.SHEET_NAMES[kind][0 if zh else 1])
        ws.append([C.COLUMNS[k].title(lang) for k in keys])
        for i, key in enumerate(keys, start=1):
            cell = ws.cell(row=1, column=i)
            cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGN
            ws.column_dimensions[get_column_letter(i)].width = C.COLUMNS[key].width
            ws.cell(row=2, column=i, value=example.get(key)).font = EXAMPLE_FONT
            if isinstance(example.get(key), date):
                ws.cell(row=2, column=i).number_format = "yyyy-mm-dd"
        ws.freeze_panes = "A2"
        _add_choices(ws, keys, lang, categories)
    wb.save(stream)


def _add_choices(ws, keys: tuple, lang: str, categories: list[str]) -> None:
    """Drop-down lists for the closed vocabularies (type, source kind, category)."""
    lists = {
        "type": [C.label(C.TASK_TYPE_NAMES, t, lang) for t in TaskType],
        "period": [C.label(C.PERIOD_NAMES, k, lang) for k in C.PERIOD_NAMES],
        "source_kind": [C.label(C.SOURCE_KIND_NAMES, k, lang) for k in C.SOURCE_KIND_NAMES],
        "category": categories,
    }
    for key, choices in lists.items():
        text = ",".join(choices)
        if key not in keys or not choices or len(text) > 250:  # Excel caps an inline list at 255
            continue
        letter = get_column_letter(keys.index(key) + 1)
        dv = DataValidation(type="list", formula1=f'"{text}"', allow_blank=True)
        dv.add(f"{letter}2:{letter}2000")
        ws.add_data_validation(dv)
