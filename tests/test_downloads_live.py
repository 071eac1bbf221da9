"""Every download and streamed response through a real `gunicorn -w 2` on both databases.

The in-process test client reads a streamed body while the test's app context (and the request's
session) is still alive; a real server reads it after the view has returned and the request's
session is gone. So the downloads are checked here, end to end: the 整改清单 CSV row by row, the
ledger workbook, the report's DOCX and Markdown, and evidence files byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import time
from datetime import date, datetime, timedelta
from urllib.parse import quote

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import NOW, PASSWORD, TODAY
from docx import Document
from flask_babel import force_locale
from live_gunicorn import hidden_inputs, multipart
from sqlalchemy.orm import joinedload

from tracker.auth import tokens as api_tokens
from tracker.clock import Clock
from tracker.enums import TaskState, TaskType
from tracker.extensions import db
from tracker.ledger.export import build_ledger_xlsx
from tracker.org.models import Unit, User
from tracker.reports import section as wording
from tracker.reports.services import rectification_figures
from tracker.supervision import services as supervision
from tracker.supervision.models import NoticeFile, NoticeKind
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Task

BOM = "\ufeff"
CSV_HEADER = ["问题编号", "问题", "整改措施", "整改目标", "整改类型", "责任人", "责任单位", "整改时限",
              "原定时限", "状态", "已逾期", "整改成效", "销号日期"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEASURES = 1200  # more than two of the CSV's 500-line chunks
AWKWARD = ['=SUM(A1:A9)', '  -负数, "引号"', "多行\n第二行", "@cmd", "\t制表符开头", "+86 电话", "普通, 逗号"]


def _task_values(i: int, problem, owner, unit) -> dict:
    """Measure i: every state and type, deadlines on both sides of today, text a CSV must quote."""
    state = list(TaskState)[i % len(TaskState)]
    ongoing = i % 7 == 0
    deadline = None if ongoing and i % 14 == 0 else TODAY + timedelta(days=(i * 37) % 300 - 100)
    moment = datetime(2026, 6, 1, 8, 0)
    done = state in (TaskState.SUBMITTED, TaskState.CLOSED)
    measure = f"整改措施{i:04d}：落实“三会一课”"
    if i % 13 == 0:
        measure = f"{AWKWARD[i % len(AWKWARD)]} 整改措施{i:04d}"
    return {
        "problem_id": problem.id, "owner_id": owner.id, "unit_id": unit.id,
        "measure": measure,
        "target": None if i % 2 else "按月开展",
        "type": TaskType.ONGOING if ongoing else (TaskType.IMMEDIATE if i % 7 == 1 else TaskType.DEADLINE),
        "deadline": deadline,
        "original_deadline": deadline - timedelta(days=10) if deadline and i % 11 == 0 else None,
        "state": state,
        "result": ("=1+1 成效" if i % 4 == 0 else "已整改到位") if done else None,
        "submitted_at": moment if done else None,
        "closed_at": moment if state == TaskState.CLOSED else None,
        "closed_on": moment.date() if state == TaskState.CLOSED else None,
        "cancelled_at": moment if state == TaskState.CANCELLED else None,
    }


@pytest.fixture
def bulk(org, make):
    """1,200 measures in unit A's subtree (three problems, three owners) and 30 in unit B."""
    pa = make.problem(org.mgr_a, org.a, description="“三会一课”落实不到位, 学习\"走过场\"")
    pa1 = make.problem(org.mgr_a, org.a1, description="=HYPERLINK(\"http://evil\") 问题")
    pb = make.problem(org.mgr_b, org.b, description="办公室的问题")
    places = [(pa, org.staff_a, org.a), (pa1, org.staff_a1, org.a1), (pa, org.mgr_a, org.a)]
    rows = [_task_values(i, *places[i % 3]) for i in range(MEASURES)]
    rows += [_task_values(i, pb, org.staff_b, org.b) for i in range(30)]
    db.session.execute(sa.insert(Task), rows)
    db.session.commit()
    return org


# --- the rectification list as CSV ---------------------------------------------------------------


def _guard(value) -> str:
    """The CSV's formula guard, written out independently of the code under test."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if text[:1] in ("\t", "\r") or text.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text


def _expected_rows(user: User, order) -> list[list[str]]:
    """The measures `user` may read, as the CSV must show them (labels in Chinese)."""
    units = sa.select(Unit.id).where(Unit.path.startswith(user.unit.path))
    found = db.session.scalars(
        sa.select(Task).where(sa.or_(Task.unit_id.in_(units), Task.owner_id == user.id))
        .options(joinedload(Task.problem), joinedload(Task.owner), joinedload(Task.unit))).all()
    with force_locale("zh_CN"):
        return [[_guard(v) for v in (
            t.problem.number, t.problem.description, t.measure, t.target, str(t.type.label), t.owner.name,
            t.unit.name, t.deadline, t.original_deadline, str(t.state.label),
            "是" if t.is_overdue(TODAY) else "", t.result, t.closed_on)] for t in sorted(found, key=order)]


def _default_order(t: Task):
    return (0 if t.is_overdue(TODAY) else 1, t.deadline is None, t.deadline or date.max, t.id)


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM.encode("utf-8"))
    return list(csv.reader(io.StringIO(body.decode("utf-8")[1:], newline="")))


def test_csv_streams_every_row_through_gunicorn(bulk, live_gunicorn):
    org = bulk
    client = live_gunicorn.client().login("mgr_a", PASSWORD)
    response = client.get("/tasks.csv")
    assert response.status == 200, response.body[:2000]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="rectification-list-2026-06-15.csv"')
    assert "filename*=UTF-8''" + quote("整改清单_2026-06-15.csv") in disposition
    rows = _csv_rows(response.body)
    assert rows[0] == CSV_HEADER
    expected = _expected_rows(org.mgr_a, _default_order)
    assert len(expected) == MEASURES
    assert len(rows) - 1 == MEASURES
    for n, (got, want) in enumerate(zip(rows[1:], expected, strict=True), start=1):
        assert got == want, f"row {n}"
    text = response.body.decode("utf-8")
    assert "办公室的问题" not in text  # unit B's measures are out of scope
    assert "'=SUM(A1:A9)" in text and "'=HYPERLINK" in text and "'  -负数" in text


def test_csv_keeps_the_lists_filters_and_sort_through_gunicorn(bulk, live_gunicorn):
    org = bulk
    client = live_gunicorn.client().login("mgr_a", PASSWORD)
    response = client.get("/tasks.csv", {"owner": org.staff_a1.id, "sort": "-deadline", "state": "open"})
    assert response.status == 200
    open_states = (TaskState.ASSIGNED, TaskState.IN_PROGRESS, TaskState.SUBMITTED)
    expected = [r for r in _expected_rows(org.mgr_a, lambda t: (
        t.deadline is None, -(t.deadline or date.min).toordinal(), -t.id))]
    with force_locale("zh_CN"):
        labels = {str(s.label) for s in open_states}
    expected = [r for r in expected if r[5] == org.staff_a1.name and r[9] in labels]
    rows = _csv_rows(response.body)
    assert rows[0] == CSV_HEADER and len(expected) > 100
    assert rows[1:] == expected
    # A staff member of B sees B's 30 measures only.
    b_rows = _csv_rows(live_gunicorn.client().login("staff_b", PASSWORD).get("/tasks.csv").body)
    assert len(b_rows) == 1 + 30 and {r[6] for r in b_rows[1:]} == {org.b.name}


def test_csv_in_english_for_an_english_user(bulk, live_gunicorn):
    org = bulk
    db.session.get(User, org.mgr_b.id).language = "en"
    db.session.commit()
    response = live_gunicorn.client().login("mgr_b", PASSWORD).get("/tasks.csv")
    rows = _csv_rows(response.body)
    assert rows[0][:3] == ["Problem no.", "Problem", "Measure"] and len(rows) == 1 + 30
    with force_locale("en"):
        assert {r[9] for r in rows[1:]} == {str(s.label) for s in TaskState}
        assert {r[4] for r in rows[1:]} == {str(t.label) for t in TaskType}
    assert "Rectification%20list_2026-06-15.csv" in response.headers["Content-Disposition"]


def _server_reads() -> bool:
    """True while another connection reads the test database: on PostgreSQL a backend inside a
    transaction or a query, on SQLite a read lock that keeps a writer from committing."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        probe = sqlite3.connect(url.database, timeout=0)
        try:
            probe.execute("BEGIN EXCLUSIVE")
            probe.rollback()
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    db.session.commit()  # this process's own session is not what we are looking for
    with db.engine.connect() as conn:
        return bool(conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")))


def _eventually(predicate, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_csv_download_abandoned_by_the_client_releases_its_connection(org, make, live_gunicorn):
    """A client that goes away mid-stream: the worker ends the read and gives its connection back."""
    problem = make.problem(org.mgr_a, org.a)
    long_text = "整改措施" * 500  # ~6 KB a row: the body outgrows every socket buffer
    rows = [{**_task_values(i, problem, org.staff_a, org.a), "measure": f"{long_text}{i}"}
            for i in range(3000)]
    db.session.execute(sa.insert(Task), rows)
    db.session.commit()
    client = live_gunicorn.client().login("mgr_a", PASSWORD)
    conn, response = client.open("GET", "/tasks.csv")
    assert response.status == 200
    assert response.read(64 * 1024).startswith(BOM.encode())
    assert _server_reads(), "the probe must see the read of a download in progress"
    response.close()  # the socket goes with the response and the connection
    conn.close()
    assert _eventually(lambda: not _server_reads()), "the server still reads after the client left"
    # The server is still fine: the next download is whole.
    again = client.get("/tasks.csv", {"q": "整改措施整改措施整改措施2999"})
    assert len(_csv_rows(again.body)) == 2


# --- the ledger workbook -------------------------------------------------------------------------


def _sheets(data: bytes) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def test_ledger_workbook_through_gunicorn(bulk, live_gunicorn):
    org = bulk
    client = live_gunicorn.client().login("mgr_a", PASSWORD)
    response = client.get("/ledger/export.xlsx")
    assert response.status == 200
    assert response.headers["Content-Type"] == XLSX_TYPE
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and quote("整改台账_2026-06-15.xlsx") in disposition
    got = _sheets(response.body)
    assert list(got) == ["问题清单", "责任清单", "整改清单"]
    assert len(got["整改清单"]) == 1 + MEASURES and len(got["问题清单"]) == 1 + 2
    measures = {row[2] for row in got["整改清单"][1:]}
    assert "整改措施0001：落实“三会一课”" in measures and "'=SUM(A1:A9) 整改措施0000" in measures
    assert not any("办公室的问题" in str(row) for rows in got.values() for row in rows)
    # Cell for cell what the same export gives in this process.
    reference = io.BytesIO()
    build_ledger_xlsx(db.session.get(User, org.mgr_a.id), Clock.parse(NOW), reference, lang="zh_CN")
    assert got == _sheets(reference.getvalue())
    # The list's filters narrow the workbook as they narrow the list.
    narrowed = _sheets(client.get("/ledger/export.xlsx", {"owner": org.staff_a1.id}).body)
    assert len(narrowed["整改清单"]) == 1 + MEASURES // 3
    assert {row[6] for row in narrowed["整改清单"][1:]} == {org.staff_a1.name}  # 责任人
    # The import template.
    template = client.get("/ledger/template.xlsx")
    assert template.status == 200 and template.headers["Content-Type"] == XLSX_TYPE
    assert template.headers["Content-Disposition"].startswith("attachment")
    assert quote("整改台账导入模板.xlsx") in template.headers["Content-Disposition"]
    sheets = _sheets(template.body)
    assert list(sheets) == ["说明", "问题清单", "责任清单", "整改清单"]
    assert sheets["整改清单"][0][:3] == got["整改清单"][0][:3]  # the export's own headers


# --- the report section: DOCX and Markdown ---------------------------------------------------------


@pytest.fixture
def closed_work(org, make):
    """Unit A: a problem with one measure closed out and one still open."""
    problem = make.problem(org.mgr_a, org.a, description="理论学习不够深入")
    done = make.task(org.mgr_a, problem, owner=org.staff_a, measure="制定学习计划",
                     deadline=TODAY + timedelta(days=5))
    make.task(org.mgr_a, problem, owner=org.staff_a, measure="开展专题研讨",
              deadline=TODAY + timedelta(days=20))
    clock = Clock.parse(NOW)
    tasks.submit(done, org.staff_a, clock, result="制定学习计划1份")
    tasks.verify(done, org.mgr_a, clock)
    db.session.commit()
    return org


def _section(org, lang="zh_CN"):
    figures = rectification_figures(db.session.get(User, org.mgr_a.id), org.a, date(2026, 1, 1), TODAY,
                                    Clock.parse(NOW))
    return wording.render_section(figures, lang)


REPORT = {"date_from": "2026-01-01", "date_to": "2026-06-15"}


def test_report_docx_and_markdown_through_gunicorn(closed_work, live_gunicorn):
    org = closed_work
    client = live_gunicorn.client().login("mgr_a", PASSWORD)
    section = _section(org)
    docx = client.get("/reports/rectification.docx", {"unit": org.a.id, **REPORT})
    assert docx.status == 200
    assert docx.headers["Content-Type"] == DOCX_TYPE
    assert docx.headers["Content-Disposition"].startswith("attachment")
    assert quote("整改情况_第一党支部_2026-01-01_2026-06-15.docx") in docx.headers["Content-Disposition"]
    paragraphs = [p.text for p in Document(io.BytesIO(docx.body)).paragraphs]
    assert paragraphs == [b.text for b in section.blocks]
    assert paragraphs[0] == "第一党支部问题整改情况"
    assert any("整改措施：制定学习计划。整改成效：制定学习计划1份。" in p for p in paragraphs)

    md = client.get("/reports/rectification.md", {"unit": org.a.id, **REPORT})
    assert md.status == 200
    assert md.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert md.headers["Content-Disposition"].startswith("attachment")
    assert md.text == wording.build_markdown(section)
    assert md.text.startswith("# 第一党支部问题整改情况\n\n## 一、问题整改情况\n")
    assert "已销号1条" in md.text and "整改措施：开展专题研讨。" in md.text

    # The API's documents, with a bearer token.
    _, token = api_tokens.create_token(org.mgr_a, Clock.parse(NOW), name="live")
    db.session.commit()
    api = live_gunicorn.client()
    bearer = {"Authorization": f"Bearer {token}"}
    query = f"unit={org.a.id}&from=2026-01-01&to=2026-06-15"
    api_md = api.request("GET", f"/api/v1/reports/rectification?{query}&format=md", headers=bearer)
    assert api_md.status == 200 and api_md.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert api_md.headers["Content-Disposition"].startswith("attachment") and api_md.text == md.text
    api_docx = api.request("GET", f"/api/v1/reports/rectification?{query}&format=docx", headers=bearer)
    assert api_docx.status == 200 and api_docx.headers["Content-Type"] == DOCX_TYPE
    assert [p.text for p in Document(io.BytesIO(api_docx.body)).paragraphs] == paragraphs


# --- evidence files ------------------------------------------------------------------------------


def test_evidence_upload_and_download_through_gunicorn(org, make, live_gunicorn):
    task = make.task(org.mgr_a, owner=org.staff_a, measure="建立健全学习制度")
    db.session.commit()
    files = {"整改报告.pdf": b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024), "现场照片.jpg": os.urandom(70_000)}
    owner = live_gunicorn.client().login("staff_a", PASSWORD)
    page = owner.get(f"/tasks/{task.id}")
    fields = {**hidden_inputs(page.text, "form-progress"), "progress-body": "已召开专题会议"}
    body, content_type = multipart(fields, [("progress-files", name, data) for name, data in files.items()])
    posted = owner.request("POST", f"/tasks/{task.id}/progress", body, {"Content-Type": content_type})
    assert posted.status == 302, posted.text[:2000]
    db.session.expire_all()
    found = db.session.scalars(sa.select(Evidence).where(Evidence.task_id == task.id))
    stored = {e.filename: e for e in found}
    assert set(stored) == set(files)
    page = owner.get(f"/tasks/{task.id}").text
    for name, data in files.items():
        ev = stored[name]
        assert f"/evidence/{ev.id}" in page
        assert ev.sha256 == hashlib.sha256(data).hexdigest() and ev.size == len(data)
        for who in ("staff_a", "mgr_a", "viewer_root"):
            client = owner if who == "staff_a" else live_gunicorn.client().login(who, PASSWORD)
            response = client.get(f"/evidence/{ev.id}")
            assert response.status == 200
            assert response.body == data and hashlib.sha256(response.body).hexdigest() == ev.sha256
            disposition = response.headers["Content-Disposition"]
            assert disposition.startswith("attachment") and "filename*=UTF-8''" + quote(name) in disposition
            assert int(response.headers["Content-Length"]) == len(data)
            assert response.headers["Content-Type"] == ev.content_type
    outsider = live_gunicorn.client().login("staff_b", PASSWORD)
    assert outsider.get(f"/evidence/{stored['整改报告.pdf'].id}").status == 404


def test_api_progress_with_evidence_through_gunicorn(org, make, live_gunicorn):
    """A client system posts a note with a 3 MB file as multipart/form-data; the web page serves it back."""
    task = make.task(org.mgr_a, owner=org.staff_a, measure="建立台账")
    _, token = api_tokens.create_token(org.staff_a, Clock.parse(NOW), name="live")
    db.session.commit()
    data = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024)
    body, content_type = multipart({"body": "已建立台账"}, [("files", "台账.pdf", data)])
    api = live_gunicorn.client()
    posted = api.request("POST", f"/api/v1/tasks/{task.id}/progress", body,
                         {"Content-Type": content_type, "Authorization": f"Bearer {token}"})
    assert posted.status == 201, posted.text[:2000]
    assert json.loads(posted.text)["files"] == ["台账.pdf"]
    db.session.expire_all()
    ev = db.session.scalars(sa.select(Evidence).where(Evidence.task_id == task.id)).one()
    assert ev.sha256 == hashlib.sha256(data).hexdigest()
    served = live_gunicorn.client().login("mgr_a", PASSWORD).get(f"/evidence/{ev.id}")
    assert served.status == 200 and served.body == data


def test_calendar_feed_through_gunicorn(org, make, clock, live_gunicorn):
    """The ICS a calendar app fetches, from a real server, without a login; parsed back whole."""
    from icalendar import Calendar

    from tracker.auth import calendar as feeds

    task = make.task(org.mgr_a, owner=org.staff_a, measure="完善会议记录",
                     deadline=TODAY + timedelta(days=9))
    secret = feeds.renew(org.staff_a, clock)
    db.session.commit()
    feed = live_gunicorn.client().get(f"/calendar/{secret}.ics")
    assert feed.status == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    (event,) = Calendar.from_ical(feed.body).walk("VEVENT")
    assert str(event.get("uid")).startswith(f"task-{task.id}-")
    assert "完善会议记录" in str(event.get("summary"))
    assert event.decoded("dtstart") == TODAY + timedelta(days=9)
    assert live_gunicorn.client().get("/calendar/unknown.ics").status == 404


def test_notice_docx_and_reply_file_through_gunicorn(org, make, clock, live_gunicorn):
    task = make.task(org.mgr_a, owner=org.staff_a, measure="规范公文处理", deadline=TODAY - timedelta(days=3),
                     allow_past_deadline=True)
    notice = supervision.issue(org.mgr_a, clock, kind=NoticeKind.SUPERVISION, task_ids=[task.id],
                               reply_due_on=TODAY + timedelta(days=5), body="请抓紧整改。")
    data = b"%PDF-1.4\n" + os.urandom(200_000)
    supervision.reply(notice, org.staff_a, clock, body="已整改",
                      uploads=[Upload("整改情况报告.pdf", io.BytesIO(data), "application/pdf")])
    db.session.commit()
    stored = db.session.scalars(sa.select(NoticeFile).where(NoticeFile.notice_id == notice.id)).one()

    manager = live_gunicorn.client().login("mgr_a", PASSWORD)
    docx = manager.get(f"/notices/{notice.id}.docx")
    assert docx.status == 200 and docx.headers["Content-Type"] == DOCX_TYPE
    assert docx.headers["Content-Disposition"].startswith("attachment")
    text = "\n".join(p.text for p in Document(io.BytesIO(docx.body)).paragraphs)
    assert "〔2026〕第1期" in text
    for who in ("mgr_a", "staff_a"):
        client = manager if who == "mgr_a" else live_gunicorn.client().login(who, PASSWORD)
        got = client.get(f"/notice-files/{stored.id}")
        assert got.status == 200 and got.body == data
        assert "filename*=UTF-8''" + quote("整改情况报告.pdf") in got.headers["Content-Disposition"]
    outsider = live_gunicorn.client().login("staff_b", PASSWORD)
    assert outsider.get(f"/notice-files/{stored.id}").status == 404
    assert outsider.get(f"/notices/{notice.id}.docx").status == 404


# --- the ledger import: jobs that run after the request, on the server's own threads -------------------


def _until_finished(client, job_url: str) -> dict:
    """Poll a job's status as its page does, until it is finished (at most a minute)."""
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    for _ in range(600):
        status = json.loads(client.get(f"/ledger/import/jobs/{job_id}").body)
        if status["finished"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def test_ledger_import_jobs_run_on_the_servers_threads_through_gunicorn(org, live_gunicorn):
    """The check and the import run on gunicorn workers' threads after the request that queued them;
    no test calls jobs.run_pending here."""
    from test_ledger_import import GOOD, counts, workbook

    before = counts()
    client = live_gunicorn.client().login("mgr_root", PASSWORD)
    token = hidden_inputs(client.get("/ledger/import").text, "ledger-upload")["csrf_token"]
    body, kind = multipart({"csrf_token": token}, [("file", "台账.xlsx", workbook(GOOD))])
    answer = client.request("POST", "/ledger/import", body, {"Content-Type": kind})
    assert answer.status == 303, answer.text[:2000]
    check_url = answer.headers["Location"]
    assert _until_finished(client, check_url)["state"] == "done"
    preview = client.get(check_url)
    assert preview.status == 200 and "措施一" in preview.text
    job_id = check_url.rstrip("/").rsplit("/", 1)[1]
    confirm = hidden_inputs(preview.text, f"/ledger/import/{job_id}/confirm")["csrf_token"]
    answer = client.post(f"/ledger/import/{job_id}/confirm", {"csrf_token": confirm})
    assert answer.status == 303, answer.text[:2000]
    import_url = answer.headers["Location"]
    assert import_url != check_url
    assert _until_finished(client, import_url)["state"] == "done"
    db.session.expire_all()
    problems, measures, _sources = counts()
    assert (problems - before[0], measures - before[1]) == (2, 3)
    assert "T-001" in client.get(import_url).text
