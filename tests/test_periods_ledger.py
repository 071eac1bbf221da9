"""阶段性销号 in the ledgers: exported in its own column (last, so the others keep their places),
imported from it; 分阶段整改 means an ongoing measure closed out quarterly; a period on a measure with a
deadline, or a word that names no period, is refused at its cell."""

from __future__ import annotations

import io

import openpyxl
from test_ledger_import import GOOD, HEADERS, attempt, workbook

from tracker.enums import TaskType
from tracker.extensions import db
from tracker.followup.models import PeriodKind
from tracker.ledger.export import build_ledger_xlsx
from tracker.tasks.models import Task


def test_the_export_writes_the_period(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None,
                     period=PeriodKind.HALF)
    db.session.commit()
    for lang, word, title in (("zh_CN", "按半年", "阶段性销号"), ("en", "Half-yearly", "Periodic close-out")):
        out = io.BytesIO()
        build_ledger_xlsx(org.mgr_a, clock, out, lang=lang)
        sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[2]
        header = [c.value for c in sheet[1]]
        row = [c.value for c in sheet[2]]
        assert row[header.index(title)] == word and task.measure in row


def test_the_export_writes_the_rating_and_the_round(org, make, clock):
    from tracker.tasks import services as tasks

    task = make.task(org.mgr_a, owner=org.staff_a)
    tasks.submit(task, org.staff_a, clock, result="已整改")
    tasks.verify(task, org.mgr_a, clock, rating="basic")
    db.session.commit()
    out = io.BytesIO()
    build_ledger_xlsx(org.mgr_a, clock, out, lang="zh_CN")
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[2]
    header, row = [c.value for c in sheet[1]], [c.value for c in sheet[2]]
    assert row[header.index("成效评价")] == "基本满意" and row[header.index("整改轮次")] == 1


def _with_periods(rows: list) -> dict:
    headers = dict(HEADERS, 整改清单=[*HEADERS["整改清单"], "阶段性销号"])
    sheets = dict(GOOD, 整改清单=rows)
    return workbook(sheets, headers)


def test_the_import_reads_periods_and_staged_measures(org, clock):
    data = _with_periods([
        [1, "T-001", "措施一", "", "限期整改", "第一党支部", "张三", "2026-07-01", None],
        [2, "T-001", "每月通报", "", "长期坚持", "", "李四", None, "按月"],
        [3, "T-002", "分步推进", "", "分阶段整改", "A1", "staff_a1", None, None],
    ])
    report, issues = attempt(data, org.mgr_root, clock)
    assert issues == [] and report.ok
    db.session.commit()
    made = {t.measure: t for t in db.session.query(Task)}
    assert made["每月通报"].period == PeriodKind.MONTH and made["每月通报"].type == TaskType.ONGOING
    assert made["分步推进"].period == PeriodKind.QUARTER and made["分步推进"].type == TaskType.ONGOING
    assert made["措施一"].period is None


def test_a_period_where_none_can_be_is_refused_at_its_cell(org, clock):
    data = _with_periods([
        [1, "T-001", "措施一", "", "限期整改", "第一党支部", "张三", "2026-07-01", "按季度"],
        [2, "T-002", "措施二", "", "长期坚持", "A1", "staff_a1", None, "每两天"],
    ])
    report, issues = attempt(data, org.mgr_root, clock)
    assert not report.ok
    assert [(sheet, row) for sheet, row, _, _ in issues] == [("整改清单", 2), ("整改清单", 3)]
    assert "Only an ongoing measure" in issues[0][3] and "每两天 is not a period" in issues[1][3]
    assert all("阶段性销号" in column for _, _, column, _ in issues)
