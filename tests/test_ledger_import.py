"""Ledger import: malformed workbooks are refused with clear messages and write nothing;
the real-world single-sheet ledger is understood; the web upload → check → preview → confirm → import
flow, whose check and import run as background jobs."""

from __future__ import annotations

import copy
import io
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import PASSWORD, TODAY
from flask_babel import force_locale

from tracker.audit.models import AuditEvent
from tracker.enums import Role, SourceKind, TaskState, TaskType
from tracker.extensions import db
from tracker.ledger import jobs
from tracker.ledger.dates import NotADate, parse_date
from tracker.ledger.importer import run_import
from tracker.org.models import User
from tracker.problems.models import Problem, Source
from tracker.tasks.models import Task

HEADERS = {
    "问题清单": ["序号", "问题编号", "问题来源", "来源类型", "问题类别", "问题描述", "发现单位", "发现日期"],
    "责任清单": ["序号", "问题编号", "问题描述", "责任领导", "牵头单位", "配合单位", "责任人"],
    "整改清单": ["序号", "问题编号", "整改措施", "整改目标", "整改类型", "责任单位", "责任人", "整改时限"],
}
GOOD = {
    "问题清单": [
        [1, "T-001", "2026年自查", "自查", "政治建设", "问题一", "第一党支部", date(2026, 5, 1)],
        [2, "T-002", "2026年自查", "自查", "作风建设", "问题二", "第一党支部一组", "2026/5/2"],
    ],
    "责任清单": [
        [1, "T-001", "问题一", "局长", "第一党支部", "办公室", "张三"],
        [2, "T-002", "问题二", "", "A1", "", ""],
    ],
    "整改清单": [
        [1, "T-001", "措施一", "目标一", "限期整改", "第一党支部", "张三", date(2026, 7, 1)],
        [2, "T-001", "措施二", "", "长期坚持", "", "李四", None],
        [3, "T-002", "措施三", "", "立行立改", "A1", "staff_a1", "2026年6月30日"],
    ],
}


def workbook(sheets: dict, headers: dict = HEADERS) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, data in sheets.items():
        ws = wb.create_sheet(title)
        ws.append(headers[title])
        for row in data:
            ws.append(row)
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


def attempt(data: bytes, actor, clock, **kw):
    """Import, then roll back as every caller does on errors; returns (report, issues in English)."""
    with force_locale("en"):
        report = run_import(data, db.session.get(User, actor.id), clock, **kw)
        issues = [(e.sheet, e.row, e.column, str(e.message)) for e in report.errors]
    if not report.ok:
        db.session.rollback()
    return report, issues


def counts():
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Problem, Task, Source)
    )


def events():
    return db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))


def test_the_good_three_sheet_workbook_imports(org, clock):
    report, issues = attempt(workbook(GOOD), org.mgr_root, clock)
    assert issues == []
    db.session.commit()
    p1, p2 = db.session.scalars(sa.select(Problem).order_by(Problem.number)).all()
    assert (p1.number, p1.lead_unit.code, p1.responsible_leader.username, p1.responsible_person.username) == (
        "T-001",
        "A",
        "mgr_root",
        "staff_a",
    )
    assert [u.code for u in p1.cooperating_units] == ["B"] and p1.found_on == date(2026, 5, 1)
    assert [(t.measure, t.type, t.owner.username, t.unit.code, t.deadline) for t in p1.tasks] == [
        ("措施一", TaskType.DEADLINE, "staff_a", "A", date(2026, 7, 1)),
        ("措施二", TaskType.ONGOING, "staff_a1", "A1", None),
    ]
    assert (p2.unit.code, p2.found_on, p2.tasks[0].deadline, p2.tasks[0].type) == (
        "A1",
        date(2026, 5, 2),
        date(2026, 6, 30),
        TaskType.IMMEDIATE,
    )
    assert {t.state for t in p1.tasks + p2.tasks} == {TaskState.ASSIGNED}
    source = db.session.scalar(sa.select(Source))
    assert (source.name, source.kind, source.held_on) == (
        "2026年自查",
        SourceKind.SELF_INSPECTION,
        date(2026, 5, 1),
    )
    assert (
        db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "task.create"))
        == 3
    )


def _with(change):
    sheets = copy.deepcopy(GOOD)
    headers = copy.deepcopy(HEADERS)
    change(sheets, headers)
    return workbook(sheets, headers)


def _drop_deadline_column(sheets, headers):
    headers["整改清单"].pop()
    for row in sheets["整改清单"]:
        row.pop()


def _set(sheet, row, col, value):
    def change(sheets, headers):
        sheets[sheet][row][col] = value

    return change


def _add_row(sheet, row):
    def change(sheets, headers):
        sheets[sheet].append(row)

    return change


MALFORMED = {
    "missing required column": (
        _drop_deadline_column,
        ("整改清单", None, None, "Column 整改时限 is missing."),
    ),
    "bad date": (
        _set("整改清单", 0, 7, "2026-13-45"),
        ("整改清单", 2, "整改时限 (H)", "2026-13-45 is not a date; write it like 2022-12-31."),
    ),
    "bad text": (_set("整改清单", 0, 7, "下个月"), ("整改清单", 2, "整改时限 (H)", "下个月 is not a date")),
    "unknown user": (_set("整改清单", 0, 6, "赵六"), ("整改清单", 2, "责任人 (G)", "No user called 赵六.")),
    "unknown leader": (
        _set("责任清单", 0, 3, "王局长"),
        ("责任清单", 2, "责任领导 (D)", "No user called 王局长."),
    ),
    "unknown unit": (
        _set("责任清单", 0, 4, "宣传科"),
        ("责任清单", 2, "牵头单位 (E)", "No unit called 宣传科."),
    ),
    "unknown cooperating unit": (
        _set("责任清单", 0, 5, "办公室、宣传科"),
        ("责任清单", 2, "配合单位 (F)", "No unit called 宣传科."),
    ),
    "unknown category": (
        _set("问题清单", 0, 4, "不存在的类别"),
        ("问题清单", 2, "问题类别 (E)", "No category called 不存在的类别."),
    ),
    "duplicate number in file": (
        _add_row("问题清单", [3, "T-001", "2026年自查", "", "政治建设", "再一次", "", None]),
        (
            "问题清单",
            4,
            "问题编号 (B)",
            "Problem number T-001 appears more than once in the file (first in row 2).",
        ),
    ),
    "measure without problem": (
        _add_row("整改清单", [4, "T-999", "孤立的措施", "", "", "", "张三", "2026-09-01"]),
        (
            "整改清单",
            5,
            "问题编号 (B)",
            "This measure has no problem: problem number T-999 is not in the problem list.",
        ),
    ),
    "missing description": (
        _set("问题清单", 1, 5, "  "),
        ("问题清单", 3, "问题描述 (F)", "问题描述 is required."),
    ),
    "missing deadline": (
        _set("整改清单", 0, 7, None),
        ("整改清单", 2, "整改时限 (H)", "整改时限 is required."),
    ),
    "bad type": (
        _set("整改清单", 0, 4, "马上办"),
        ("整改清单", 2, "整改类型 (E)", "马上办 is not a type of measure"),
    ),
    "several owners": (
        _set("整改清单", 0, 6, "张三、李四"),
        ("整改清单", 2, "责任人 (G)", "Give one responsible person per measure"),
    ),
    "read-only owner": (
        _set("整改清单", 0, 6, "纪检组长"),
        ("整改清单", 2, "责任人 (G)", "纪检组长 is a read-only user and cannot own a measure."),
    ),
    "future date found": (
        _set("问题清单", 0, 7, date(2027, 1, 1)),
        ("问题清单", 2, "发现日期 (H)", "The date found cannot be in the future."),
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_three_sheet_workbooks_are_refused(org, clock, case):
    change, expected = MALFORMED[case]
    before = counts(), events()
    report, issues = attempt(_with(change), org.mgr_root, clock)
    assert not report.ok
    assert any(i[:3] == expected[:3] and i[3].startswith(expected[3]) for i in issues), issues
    assert (counts(), events()) == before


def test_number_already_in_the_database(org, make, clock):
    make.problem(org.mgr_a, number="T-002")
    db.session.commit()
    before = counts()
    report, issues = attempt(workbook(GOOD), org.mgr_root, clock)
    assert issues == [("问题清单", 3, "问题编号 (B)", "Problem number T-002 already exists.")]
    assert counts() == before


def test_every_error_is_reported_not_only_the_first(org, clock):
    def change(sheets, headers):
        sheets["问题清单"][0][4] = "不存在"
        sheets["整改清单"][1][6] = "赵六"
        sheets["整改清单"][2][7] = "2026.02.30"

    report, issues = attempt(_with(change), org.mgr_root, clock)
    assert [(i[0], i[1]) for i in issues] == [("问题清单", 2), ("整改清单", 3), ("整改清单", 4)]


def test_units_outside_the_managers_scope_are_refused(org, clock):
    report, issues = attempt(_with(_set("整改清单", 0, 5, "办公室")), org.mgr_a, clock)
    # Outside the importer's scope reads exactly like a unit that does not exist.
    assert ("整改清单", 2, "责任单位 (F)", "No unit called 办公室.") in issues
    assert counts() == (0, 0, 0)


def test_ambiguous_names_ask_for_the_username(org, make, clock):
    make.user("zhangsan2", Role.STAFF, org.b, name="张三")
    db.session.commit()
    report, issues = attempt(workbook(GOOD), org.mgr_root, clock)
    assert (
        "整改清单",
        2,
        "责任人 (G)",
        "Several people are called 张三; write the username instead.",
    ) in issues
    ok = _with(
        lambda s, h: [
            s["整改清单"][0].__setitem__(6, "张三(staff_a)"),
            s["责任清单"][0].__setitem__(6, "staff_a"),
        ]
    )
    report, issues = attempt(ok, org.mgr_root, clock)
    assert issues == []


def _bytes_of_zip(names: dict) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in names.items():
            zf.writestr(name, text)
    return stream.getvalue()


def _empty_workbook() -> bytes:
    stream = io.BytesIO()
    openpyxl.Workbook().save(stream)
    return stream.getvalue()


FILE_CASES = {
    "text file renamed": (
        b"\xe5\xba\x8f\xe5\x8f\xb7,\xe9\x97\xae\xe9\xa2\x98\n1,2\n",
        "This is not an Excel workbook",
    ),
    "zip that is not a workbook": (
        _bytes_of_zip({"readme.txt": "hello"}),
        "The file is a zip archive but not",
    ),
    "old xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "This is an old-format .xls workbook"),
    "damaged workbook": (
        _bytes_of_zip({"[Content_Types].xml": "<x/>", "xl/workbook.xml": "nonsense"}),
        "The workbook could not be read",
    ),
    "empty sheet": (_empty_workbook(), "The sheet is empty."),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_files_that_are_not_ledgers(org, clock, case):
    data, message = FILE_CASES[case]
    report, issues = attempt(data, org.mgr_root, clock)
    assert len(issues) == 1 and issues[0][3].startswith(message), issues
    assert counts() == (0, 0, 0)


def test_too_large(org, clock):
    data = workbook(GOOD)
    report, issues = attempt(data, org.mgr_root, clock, max_bytes=len(data) - 1)
    assert issues[0][3].startswith("The file is larger than the limit of")
    assert counts() == (0, 0, 0)


def test_zip_bomb_is_refused(org, clock):
    data = _bytes_of_zip(
        {"[Content_Types].xml": "<x/>", "xl/workbook.xml": "<w/>", "xl/big.xml": " " * 5_000_000}
    )
    report, issues = attempt(data, org.mgr_root, clock, max_bytes=len(data) * 2)
    assert "zip bomb" in issues[0][3]


def test_too_many_rows(org, clock):
    report, issues = attempt(workbook(GOOD), org.mgr_root, clock, max_rows=2)
    assert any("more than 2 rows" in i[3] for i in issues)


# --- the single-sheet ledger offices keep ---------------------------------------------------------


def real_world_ledger(merge_header=False) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["某局2026年巡察反馈问题整改台账"])
    ws.merge_cells("A1:J1")
    ws.append(["填报单位：某局党委（盖章）", None, None, None, None, "填报时间：２０２６年６月１日"])
    ws.merge_cells("A2:E2")
    ws.merge_cells("F2:J2")
    ws.append(
        [
            "序 号",
            "问题类型",
            "存在问题 ",
            "整改举措",
            "分管领导",
            "牵头部门",
            "配合部门",
            "具体责任人",
            "完成\n时限",
            "备注",
        ]
    )
    ws.append(
        [
            1,
            "作风建设 ",
            "调查研究不深入，  文风会风有待改进。  ",
            "制定调研计划",
            "局长",
            "第一党支部 ",
            "办公室",
            "张三 ",
            "２０２６-０７-３１",
            None,
        ]
    )
    ws.append([None, None, None, "每季度开展专题调研", None, None, None, "张　三", "２０２６/８/３１", None])
    ws.append(
        [None, None, None, "完善会议管理制度", None, None, None, "李四", "２０２６年９月３０日", "已开始"]
    )
    for col in "ABCEFG":
        ws.merge_cells(f"{col}4:{col}6")
    ws.append(["二、其他方面"])
    ws.merge_cells("A7:J7")
    ws.append(
        [2, "制度建设", "制度执行不严格", "开展制度执行情况检查", "", "A1", "", "staff_a1", "长期坚持", None]
    )
    ws.append(
        [
            3,
            "纪律建设",
            "个别党员学习不主动",
            "建立学习台账",
            "",
            "第一党支部",
            "",
            "张三",
            "２０２６．１０．３１",
            None,
        ]
    )
    if merge_header:
        ws["C3"] = "问题描述"
        ws.merge_cells("C3:D3")
    stream = io.BytesIO()
    wb.save(stream)
    return stream.getvalue()


def test_single_sheet_ledger_with_merged_problem_cells(org, clock):
    report, issues = attempt(real_world_ledger(), org.mgr_root, clock)
    assert issues == []
    assert report.shape == "single_sheet"
    assert [s.name for s in report.new_sources.values()] == ["某局2026年巡察反馈问题整改台账"]
    db.session.commit()
    problems = db.session.scalars(sa.select(Problem).order_by(Problem.id)).all()
    assert [p.number for p in problems] == ["2026-001", "2026-002", "2026-003"]
    first = problems[0]
    assert first.description == "调查研究不深入，  文风会风有待改进。"
    assert (
        first.category.name,
        first.lead_unit.code,
        first.responsible_leader.username,
        [u.code for u in first.cooperating_units],
        first.found_on,
    ) == ("作风建设", "A", "mgr_root", ["B"], TODAY)
    assert [(t.measure, t.owner.username, t.unit.code, t.deadline) for t in first.tasks] == [
        ("制定调研计划", "staff_a", "A", date(2026, 7, 31)),
        ("每季度开展专题调研", "staff_a", "A", date(2026, 8, 31)),
        ("完善会议管理制度", "staff_a1", "A", date(2026, 9, 30)),
    ]
    assert [(t.type, t.deadline, t.unit.code) for t in problems[1].tasks] == [(TaskType.ONGOING, None, "A1")]
    assert problems[2].tasks[0].deadline == date(2026, 10, 31)
    assert problems[0].source.kind == SourceKind.INSPECTION_FEEDBACK
    with force_locale("en"):
        notes = [str(w.message) for w in report.warnings]
    assert "Row skipped as a heading: 二、其他方面" in notes
    assert "Problems without a date found: 3; today's date is used." in notes
    assert any("备注" in n for n in notes) is False


def test_single_sheet_merged_header_is_reported(org, clock):
    report, issues = attempt(real_world_ledger(merge_header=True), org.mgr_root, clock)
    assert (
        "Sheet1",
        3,
        "问题描述 (C)",
        "The header cell 问题描述 is merged over columns C3:D3; give each column its own header.",
    ) in issues
    assert counts() == (0, 0, 0)


def test_single_sheet_measure_row_without_problem(org, clock):
    wb = openpyxl.load_workbook(io.BytesIO(real_world_ledger()))
    ws = wb.active
    ws.unmerge_cells("C4:C6")  # the description no longer covers the 2nd and 3rd measure
    stream = io.BytesIO()
    wb.save(stream)
    report, issues = attempt(stream.getvalue(), org.mgr_root, clock)
    assert not report.ok
    assert issues[0][:3] == ("Sheet1", 5, "存在问题 (C)") and issues[0][3].startswith(
        "This row has no problem"
    )
    assert counts() == (0, 0, 0)


def test_two_level_header_is_understood(org, clock):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["序号", "问题类别", "问题描述", "整改措施", "责任主体", None, "整改时限", "问题来源"])
    ws.append([None, None, None, None, "牵头单位", "责任人", None, None])
    for col in "ABCDGH":
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("E1:F1")
    ws.append([1, "政治建设", "问题甲", "措施甲", "第一党支部", "张三", "2026-12-31", "2026年督查"])
    stream = io.BytesIO()
    wb.save(stream)
    report, issues = attempt(stream.getvalue(), org.mgr_root, clock)
    assert issues == []
    assert report.problems[0].measures[0].data["owner"].username == "staff_a"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2022-12-31", date(2022, 12, 31)),
        ("2022/12/31", date(2022, 12, 31)),
        ("2022年12月31日", date(2022, 12, 31)),
        ("2022.12.31", date(2022, 12, 31)),
        ("２０２２年１２月３１日", date(2022, 12, 31)),
        ("2022年12月底前", date(2022, 12, 31)),
        ("2022-2-3", date(2022, 2, 3)),
        ("20221231", date(2022, 12, 31)),
        (" 2022/12/31 ", date(2022, 12, 31)),
        (44926, date(2022, 12, 31)),
        ("", None),
        (None, None),
    ],
)
def test_dates_as_people_write_them(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2022-02-30", "下月底", "12/31/2022", "1", 3.5, "2022年13月"])
def test_not_dates(text):
    with pytest.raises(NotADate):
        parse_date(text)


# --- the web flow ------------------------------------------------------------------------------------
# The check and the import run as jobs (tracker.ledger.jobs); here run_pending() runs them where a
# worker thread would, and the pages are read before and after.


def upload(client, data: bytes, name="台账.xlsx"):
    return client.post(
        "/ledger/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def checked(client, data: bytes, name="台账.xlsx"):
    """Upload, run the check job, and return the job's page (the preview)."""
    response = upload(client, data, name)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert jobs.run_pending()
    return client.get(response.location), response.location


def stored(app) -> list[Path]:
    return list((Path(app.instance_path) / "imports").glob("*.xlsx"))


def test_upload_preview_confirm(org, login_as, app):
    client = login_as(org.mgr_root)
    assert client.get("/ledger/import").status_code == 200
    response = upload(client, workbook(GOOD))
    assert response.status_code == 303
    waiting = client.get(response.location).get_data(as_text=True)
    assert 'id="job-progress"' in waiting and "措施一" not in waiting  # queued: the check has not run yet
    jobs.run_pending()
    page = client.get(response.location)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "措施一" in text and "2026年自查" in text and 'id="confirm-import"' in text
    assert counts() == (0, 0, 0)
    assert len(stored(app)) == 1
    check_url = response.location
    response = client.post(f"{check_url}/confirm")
    assert response.status_code == 303 and response.location != check_url
    assert 'id="job-progress"' in client.get(response.location).get_data(as_text=True)
    assert counts() == (0, 0, 0)  # queued, not run yet
    jobs.run_pending()
    assert counts() == (2, 3, 1)
    assert not stored(app)
    done = client.get(response.location).get_data(as_text=True)
    assert "T-001, T-002" in done and "/problems" in done
    assert client.get(check_url).location == response.location  # the check now leads to its import
    again = client.post(f"{check_url}/confirm")  # a second confirmation is the same import
    assert again.location == response.location and not jobs.run_pending()
    assert counts() == (2, 3, 1)


def test_upload_with_errors_shows_the_table_and_keeps_nothing(org, login_as, app):
    client = login_as(org.mgr_root)
    response, url = checked(client, _with(_set("整改清单", 0, 6, "赵六")))
    page = response.get_data(as_text=True)
    assert 'id="import-errors"' in page and "赵六" in page and "整改清单" in page and "责任人 (G)" in page
    assert 'id="confirm-import"' not in page
    assert not stored(app)
    assert client.post(f"{url}/confirm").status_code == 302  # refused: back to the preview, nothing queued
    assert not jobs.run_pending()
    assert counts() == (0, 0, 0)


def test_confirm_revalidates(org, make, login_as, app):
    client = login_as(org.mgr_root)
    _, url = checked(client, workbook(GOOD))
    make.problem(org.mgr_a, number="T-001")  # someone took the number meanwhile
    db.session.commit()
    response = client.post(f"{url}/confirm")
    jobs.run_pending()
    page = client.get(response.location).get_data(as_text=True)
    assert 'id="import-errors"' in page and "T-001" in page and 'id="confirm-import"' not in page
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0
    assert not stored(app)


def test_upload_that_is_not_a_workbook(org, login_as, app):
    client = login_as(org.mgr_a)
    response = upload(client, b"just text", name="ledger.xlsx")
    assert response.status_code == 422
    assert 'data-error-for="file"' in response.get_data(as_text=True)
    assert not stored(app)


def test_upload_too_large(org, login_as, app):
    app.config["LEDGER_IMPORT_MAX_BYTES"] = 1000
    response = upload(login_as(org.mgr_a), workbook(GOOD))
    assert response.status_code == 422
    assert 'data-error-for="file"' in response.get_data(as_text=True)


def test_another_users_job_is_not_found(org, login_as, app):
    client = login_as(org.mgr_root)
    _, url = checked(client, workbook(GOOD))
    job_id = url.rsplit("/", 1)[1]
    other = app.test_client()
    other.post("/login", data={"username": "admin", "password": PASSWORD})
    for path in (url, f"/ledger/import/jobs/{job_id}"):
        assert other.get(path).status_code == 404
    for path in (f"{url}/confirm", f"{url}/discard"):
        assert other.post(path).status_code == 404
    assert client.post(f"{url}/discard").status_code == 302
    assert client.post(f"{url}/confirm").status_code == 404
    assert not stored(app)
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("who", ["staff_a", "viewer_root"])
def test_import_is_for_managers_and_admins(org, login_as, who):
    client = login_as(org.users[who])
    assert client.get("/ledger/import").status_code == 404
    assert upload(client, workbook(GOOD)).status_code == 404
    assert client.post("/ledger/import/" + "x" * 32).status_code == 404
    assert client.get("/ledger/import/jobs/1").status_code == 404
    assert not jobs.run_pending()
    assert counts() == (0, 0, 0)


def test_column_names_in_messages_follow_the_users_language(org, clock):
    data = _with(_drop_deadline_column)
    with force_locale("en"):
        report = run_import(data, db.session.get(User, org.mgr_root.id), clock, lang="en")
        messages = [str(e.message) for e in report.errors]
    db.session.rollback()
    assert messages == ["Column Deadline is missing."]


def test_english_preview_page(org, login_as, make):
    from tracker.org import services as org_services

    org_services.set_preferences(org.mgr_root, make.clock, language="en")
    db.session.commit()
    response, _ = checked(login_as(org.mgr_root), _with(_drop_deadline_column))
    page = response.get_data(as_text=True)
    assert "Column Deadline is missing." in page and "Errors" in page


def test_formatted_empty_rows_do_not_count_as_rows(org, clock):
    wb = openpyxl.load_workbook(io.BytesIO(workbook(GOOD)))
    for ws in wb.worksheets:
        for r in range(10, 400):
            ws.cell(r, 1).font = openpyxl.styles.Font(bold=True)  # formatted, empty
    stream = io.BytesIO()
    wb.save(stream)
    report, issues = attempt(stream.getvalue(), org.mgr_root, clock, max_rows=100)
    assert issues == [] and report.measure_count == 3


def test_types_written_in_the_deadline_column_and_states_are_noted(org, clock):
    def change(sheets, headers):
        headers["整改清单"].append("状态")
        sheets["整改清单"][0][7] = "立行立改"
        sheets["整改清单"][0].append("已销号")
        sheets["整改清单"][1][4] = ""
        sheets["整改清单"][1][7] = "长期坚持"
        sheets["整改清单"][1].append("整改中")
        sheets["整改清单"][2].append("已交办")

    report, issues = attempt(_with(change), org.mgr_root, clock)
    assert issues == []
    first, second = report.problems[0].measures
    assert (first.data["type"], first.data["deadline"]) == (TaskType.IMMEDIATE, TODAY)
    assert (second.data["type"], second.data["deadline"]) == (TaskType.ONGOING, None)
    with force_locale("en"):
        notes = [str(w.message) for w in report.warnings]
    assert notes == [
        "Measures marked 立行立改 without a date: 1; today is used as their deadline.",
        "The state column is not imported: measures marked as started, submitted, closed or cancelled (2) "
        "start as assigned.",
    ]
    db.session.commit()
    assert {t.state for t in db.session.scalars(sa.select(Task))} == {TaskState.ASSIGNED}
