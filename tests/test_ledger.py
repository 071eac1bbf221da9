"""Ledger export (three lists in one workbook), the template, and export → import round trips."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import TODAY, count_queries
from flask_babel import force_locale

from tracker.enums import TaskType
from tracker.extensions import db
from tracker.ledger import columns as C
from tracker.ledger.export import build_ledger_xlsx, build_template_xlsx, safe
from tracker.ledger.importer import run_import
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem, Source
from tracker.tasks import services as tasks
from tracker.tasks.models import Task


def export(actor, clock, **kw) -> openpyxl.Workbook:
    stream = io.BytesIO()
    build_ledger_xlsx(actor, clock, stream, **kw)
    stream.seek(0)
    return openpyxl.load_workbook(stream)


def rows(ws) -> list[tuple]:
    return list(ws.iter_rows(min_row=2, values_only=True))


@pytest.fixture
def ledger(org, make):
    """Two problems in A (one with two measures) and one in B."""
    src = make.source(org.a, name="2026年巡察反馈问题")
    p1 = make.problem(
        org.mgr_root,  # office B cooperates: outside mgr_a's scope, within the root manager's
        org.a,
        description="“三会一课”落实不到位",
        source=src,
        number="2026-001",
        responsible_leader=org.mgr_root,
        responsible_person=org.staff_a,
        cooperating_units=[org.a1, org.b],
    )
    make.task(
        org.mgr_a,
        p1,
        owner=org.staff_a,
        measure="制定组织生活计划",
        target="按月开展",
        deadline=TODAY + timedelta(days=10),
    )
    make.task(org.mgr_a, p1, owner=org.staff_a1, measure="每月检查落实", type=TaskType.ONGOING, deadline=None)
    p2 = make.problem(org.mgr_a, description='=HYPERLINK("http://evil")', source=src, number="2026-002")
    make.task(org.mgr_a, p2, owner=org.staff_a, measure="\t+1 整改", deadline=TODAY + timedelta(days=5))
    pb = make.problem(org.mgr_b, description="办公室的问题", number="2026-003")
    make.task(org.mgr_b, pb, owner=org.staff_b, measure="办公室整改", deadline=TODAY + timedelta(days=20))
    db.session.commit()
    return {"p1": p1, "p2": p2, "pb": pb}


def test_export_has_three_sheets_with_chinese_headers(ledger, org, clock):
    wb = export(None, clock)
    assert wb.sheetnames == ["问题清单", "责任清单", "整改清单"]
    assert [c.value for c in wb["问题清单"][1]] == [
        "序号",
        "问题编号",
        "问题来源",
        "来源类型",
        "问题类别",
        "问题描述",
        "发现单位",
        "发现日期",
        "状态",
        "销号日期",
    ]
    assert [c.value for c in wb["责任清单"][1]] == [
        "序号",
        "问题编号",
        "问题描述",
        "责任领导",
        "牵头单位",
        "配合单位",
        "责任人",
    ]
    assert [c.value for c in wb["整改清单"][1]][:8] == [
        "序号",
        "问题编号",
        "整改措施",
        "整改目标",
        "整改类型",
        "责任单位",
        "责任人",
        "整改时限",
    ]
    # New columns go last.
    assert [c.value for c in wb["整改清单"][1]][-4:] == ["是否逾期", "阶段性销号", "成效评价", "整改轮次"]


def test_export_rows_carry_the_lists(ledger, org, clock):
    wb = export(None, clock)
    problems = rows(wb["问题清单"])
    assert [r[1] for r in problems] == ["2026-001", "2026-002", "2026-003"]
    assert problems[0][2:6] == ("2026年巡察反馈问题", "自查", "政治建设", "“三会一课”落实不到位")
    resp = rows(wb["责任清单"])[0]
    assert resp[3:] == ("局长", "第一党支部", "第一党支部一组、办公室", "张三")
    measures = rows(wb["整改清单"])
    assert [(r[1], r[2], r[4], r[6]) for r in measures[:2]] == [
        ("2026-001", "制定组织生活计划", "限期整改", "张三"),
        ("2026-001", "每月检查落实", "长期坚持", "李四"),
    ]
    assert measures[0][9] == "已交办" and measures[0][13] == "否"


def test_export_is_scoped_to_the_user(ledger, org, clock):
    wb = export(org.mgr_a, clock)
    assert [r[1] for r in rows(wb["问题清单"])] == ["2026-001", "2026-002"]
    assert [r[1] for r in rows(wb["责任清单"])] == ["2026-001", "2026-002"]
    assert "2026-003" not in {r[1] for r in rows(wb["整改清单"])}
    assert len(rows(wb["整改清单"])) == 3
    staff = export(org.staff_b, clock)
    assert [r[1] for r in rows(staff["问题清单"])] == ["2026-003"]


def test_formulas_are_neutralised(ledger, clock):
    wb = export(None, clock)
    description = rows(wb["问题清单"])[1][5]
    assert description == '\'=HYPERLINK("http://evil")'
    assert wb["问题清单"]["F3"].data_type == "s"
    assert rows(wb["整改清单"])[2][2] == "'+1 整改"  # the service trims the tab
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", " =1", "\t=1", "\r=1", "\n@x"):
        assert safe(text).startswith("'"), text
    assert safe("正常文字") == "正常文字" and safe("a=b") == "a=b" and safe(5) == 5
    assert safe("bell\x07") == "bell"


def test_header_is_frozen_styled_and_dates_are_dates(ledger, clock):
    wb = export(None, clock)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb.endswith("FCE4D6")
        assert ws.column_dimensions["B"].width > 8
    found = wb["问题清单"]["H2"]
    assert (
        found.is_date
        and isinstance(found.value, datetime)
        and found.value.date() == TODAY - timedelta(days=20)
    )
    deadline = wb["整改清单"]["H2"]
    assert deadline.is_date and deadline.value.date() == TODAY + timedelta(days=10)


def test_english_headers_for_english_users(ledger, clock):
    wb = export(None, clock, lang="en")
    assert wb.sheetnames == ["Problems", "Responsibilities", "Measures"]
    assert wb["Measures"]["E1"].value == "Type" and wb["Measures"]["E2"].value == "By deadline"


def test_export_query_count_does_not_grow(org, make, clock):
    def build(n):
        for _ in range(n):
            make.task(org.mgr_a, owner=org.staff_a)
        db.session.commit()
        with count_queries() as statements:
            export(None, clock, chunk=50)
        return len(statements)

    few = build(3)
    assert build(120) == few + 2  # one more IN query for the cooperating units of each extra chunk


def test_template_has_headers_example_and_instructions(app):
    stream = io.BytesIO()
    build_template_xlsx(stream, categories=["政治建设", "作风建设"])
    wb = openpyxl.load_workbook(io.BytesIO(stream.getvalue()))
    assert wb.sheetnames == ["说明", "问题清单", "责任清单", "整改清单"]
    assert wb["整改清单"]["H1"].value == "整改时限" and wb["整改清单"]["A2"].value == "示例"
    assert wb["问题清单"]["E2"].value == "政治建设"
    assert "示例" in "".join(str(c.value) for c in wb["说明"]["A"])


def test_the_template_example_rows_are_not_imported(org, clock):
    stream = io.BytesIO()
    build_template_xlsx(stream, categories=["政治建设"])
    with force_locale("en"):
        report = run_import(stream.getvalue(), org.admin, clock)
        messages = [str(e.message) for e in report.errors]
    db.session.rollback()
    assert report.problems == []
    assert messages == ["The ledger has no problems to import."]


# --- round trip ------------------------------------------------------------------------------------


def _empty_lists(sources=False):
    """Remove problems and measures (and their history), keep the organisation and categories."""
    from tracker.audit.models import AuditEvent
    from tracker.problems.models import problem_cooperating_units

    for table in (AuditEvent.__table__, Task.__table__, problem_cooperating_units, Problem.__table__):
        db.session.execute(sa.delete(table))
    if sources:
        db.session.execute(sa.delete(Source))
    db.session.commit()


def _lists():
    problems = db.session.scalars(sa.select(Problem).order_by(Problem.number)).all()
    return [
        (
            p.number,
            p.description,
            p.category.name,
            p.source.name,
            p.unit.code,
            p.found_on,
            p.lead_unit.code,
            getattr(p.responsible_leader, "username", None),
            getattr(p.responsible_person, "username", None),
            sorted(u.code for u in p.cooperating_units),
            [
                (t.measure, t.target, t.type, t.owner.username, t.unit.code, t.deadline, t.state)
                for t in p.tasks
            ],
        )
        for p in problems
    ]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_round_trip_into_an_empty_database(ledger, org, clock, lang):
    before = _lists()
    stream = io.BytesIO()
    build_ledger_xlsx(None, clock, stream, lang=lang)
    _empty_lists(sources=True)
    assert db.session.scalar(sa.select(sa.func.count(Problem.id))) == 0
    with force_locale("zh_CN"):
        report = run_import(stream.getvalue(), db.session.get(User, org.admin.id), clock)
    assert report.ok, [(e.sheet, e.row, e.column, str(e.message)) for e in report.errors]
    db.session.commit()
    assert _lists() == before
    assert list(report.new_sources) == ["2026年巡察反馈问题", C.norm_name(before[2][3])]


def test_round_trip_keeps_past_deadlines_of_an_old_ledger(org, make, clock, app):
    from conftest import when

    old_clock = when("2026-01-10T09:00:00")
    problem = make.problem(org.mgr_a, number="2025-009", found_on=date(2025, 12, 1))
    tasks.create_task(
        problem,
        org.mgr_a,
        old_clock,
        measure="旧措施",
        owner=org.staff_a,
        unit=org.a,
        deadline=date(2026, 2, 1),
    )
    db.session.commit()
    stream = io.BytesIO()
    build_ledger_xlsx(None, old_clock, stream)
    _empty_lists()
    report = run_import(
        stream.getvalue(), db.session.get(User, org.mgr_a.id), clock
    )  # now after the deadline
    assert report.ok, [str(e.message) for e in report.errors]
    db.session.commit()
    task = db.session.scalar(sa.select(Task))
    assert task.deadline == date(2026, 2, 1) and task.is_overdue(TODAY)


# --- web and CLI -------------------------------------------------------------------------------------


def test_web_export_is_an_attachment_in_the_users_scope(ledger, org, login_as):
    client = login_as(org.mgr_b)
    response = client.get("/ledger/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and "2026-06-15.xlsx" in disposition
    assert "%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6" in disposition  # 整改台账, RFC 5987-encoded
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    assert [r[1] for r in rows(wb["问题清单"])] == ["2026-003"]


def test_web_export_applies_the_list_filters(ledger, org, login_as):
    client = login_as(org.admin)
    response = client.get(f"/ledger/export.xlsx?owner={org.staff_a1.id}")
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    assert [r[2] for r in rows(wb["整改清单"])] == ["每月检查落实"]
    assert [r[1] for r in rows(wb["问题清单"])] == ["2026-001"]  # only the filtered measures' problems
    assert [r[1] for r in rows(wb["责任清单"])] == ["2026-001"]


def test_export_and_template_need_a_login(client, org):
    assert client.get("/ledger/export.xlsx").status_code == 302
    assert client.get("/ledger/template.xlsx").status_code == 302


def test_web_template_download(org, login_as):
    response = login_as(org.staff_a).get("/ledger/template.xlsx")
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    assert "整改清单" in wb.sheetnames
    assert wb["问题清单"]["E2"].value == db.session.scalar(
        sa.select(Category.name).order_by(Category.sort_order)
    )


def test_cli_export_then_import_dry_run_and_real(ledger, org, runner, tmp_path, app):
    path = tmp_path / "ledger.xlsx"
    result = runner.invoke(args=["export-ledger", str(path)])
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(path)["问题清单"].max_row == 4
    # Importing the same file again: every number already exists.
    result = runner.invoke(args=["import-ledger", str(path), "--lang", "en"])
    assert result.exit_code == 1
    assert "ERROR: 问题清单 / row 2 / 问题编号 (B): Problem number 2026-001 already exists." in result.output
    _empty_lists()
    result = runner.invoke(args=["import-ledger", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 problems, 4 measures" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Problem.id))) == 0
    result = runner.invoke(args=["import-ledger", str(path), "--user", "mgr_root"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 4
    assert (
        db.session.scalar(
            sa.select(Unit.code).join(Problem, Problem.unit_id == Unit.id).where(Problem.number == "2026-003")
        )
        == "B"
    )
