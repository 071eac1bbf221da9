"""The rectification section of a work report: figures, wording, DOCX, web preview, downloads, CLI."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from conftest import when
from docx import Document
from docx.enum.text import WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt
from markdown_it import MarkdownIt

from tracker.auth import tokens as api_tokens
from tracker.enums import SourceKind, TaskType
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.problems import services as problems
from tracker.problems.models import Category
from tracker.reports import section as wording
from tracker.reports.document import build_docx
from tracker.reports.services import percent, rectification_figures
from tracker.tasks import services as tasks

FROM, TO = date(2026, 1, 1), date(2026, 5, 31)


def category(name):
    return db.session.scalar(sa.select(Category).where(Category.name == name))


def new_problem(make, actor, at, unit, *, lead=None, kind=SourceKind.SELF_INSPECTION, cat="政治建设"):
    clock = when(at)
    return problems.create_problem(
        actor, clock, description=f"问题描述{unit.code}{at}", category=category(cat),
        source=make.source(unit, kind=kind, held_on=clock.today()), unit=unit, lead_unit=lead or unit,
        found_on=clock.today(),
    )


def new_task(problem, actor, at, owner, deadline, *, unit=None, type=TaskType.DEADLINE, measure=None):
    return tasks.create_task(problem, actor, when(at), measure=measure or f"整改措施{deadline}", owner=owner,
                             unit=unit or owner.unit, deadline=deadline, type=type)


def close(task, owner, manager, at, result="已整改到位"):
    tasks.submit(task, owner, when(at), result=result)
    tasks.verify(task, manager, when(at))


def extend(task, owner, manager, asked_at, decided_at, new_deadline, approve=True):
    ext = tasks.request_extension(task, owner, when(asked_at), new_deadline=new_deadline, reason="工作量大")
    comment = None if approve else "不同意"
    tasks.decide_extension(ext, manager, when(decided_at), approve=approve, comment=comment)
    return ext


@pytest.fixture
def ledger(org, make):
    """A ledger where every figure of unit A's report for 2026-01-01 → 2026-05-31 is known.

    In the report (A's subtree, found in the period): P1, P2, P3 (found in B, lead unit A), P4, P7.
    Measures: T1 closed on time, T2 closed late, T3 closed on time after an extension, T4 overdue,
    T5 cancelled, T6 not yet due, T7 ongoing, T8 submitted, T11 closed after the period.
    Outside: P5 (found in 2025), P6 (unit B), and an extension decided just after the period.
    """
    mgr, staff, staff1, root = org.mgr_a, org.staff_a, org.staff_a1, org.mgr_root
    t = {}
    p1 = new_problem(make, mgr, "2026-01-10T09:00", org.a)
    t[1] = new_task(p1, mgr, "2026-01-10T09:00", staff, date(2026, 3, 31), measure="健全学习制度")
    t[2] = new_task(p1, mgr, "2026-01-10T09:00", staff, date(2026, 2, 28), measure="开展专题培训")
    close(t[1], staff, mgr, "2026-03-20T10:00", result="制定学习制度3项")
    close(t[2], staff, mgr, "2026-04-10T10:00")

    p2 = new_problem(make, mgr, "2026-02-01T09:00", org.a1, kind=SourceKind.INSPECTION_FEEDBACK,
                     cat="作风建设")
    t[3] = new_task(p2, mgr, "2026-02-01T09:00", staff1, date(2026, 3, 1))
    t[4] = new_task(p2, mgr, "2026-02-01T09:00", staff1, date(2026, 4, 30))
    t[5] = new_task(p2, mgr, "2026-02-01T09:00", staff1, date(2026, 4, 30))
    extend(t[3], staff1, mgr, "2026-02-15T10:00", "2026-02-20T10:00", date(2026, 5, 31))
    close(t[3], staff1, mgr, "2026-05-20T10:00")
    tasks.start(t[4], staff1, when("2026-02-02T10:00"))
    extend(t[4], staff1, mgr, "2026-03-01T10:00", "2026-03-02T10:00", date(2026, 6, 30), approve=False)
    tasks.cancel(t[5], mgr, when("2026-02-03T10:00"), comment="重复")

    p3 = new_problem(make, root, "2026-03-01T09:00", org.b, lead=org.a)
    t[6] = new_task(p3, root, "2026-03-01T09:00", staff, date(2026, 7, 31))
    t[7] = new_task(p3, root, "2026-03-01T09:00", staff, None, type=TaskType.ONGOING)
    extend(t[6], staff, mgr, "2026-05-30T10:00", "2026-06-01T00:30", date(2026, 8, 31))

    p4 = new_problem(make, mgr, "2026-04-01T09:00", org.a, kind=SourceKind.AUDIT, cat="作风建设")
    t[8] = new_task(p4, mgr, "2026-04-01T09:00", staff, date(2026, 6, 10))
    tasks.submit(t[8], staff, when("2026-05-01T10:00"), result="已提交")

    p5 = new_problem(make, mgr, "2025-12-15T09:00", org.a)
    t[9] = new_task(p5, mgr, "2025-12-15T09:00", staff, date(2026, 1, 31))
    close(t[9], staff, mgr, "2026-02-01T10:00")

    p6 = new_problem(make, org.mgr_b, "2026-02-01T09:00", org.b)
    t[10] = new_task(p6, org.mgr_b, "2026-02-01T09:00", org.staff_b, date(2026, 3, 31))
    close(t[10], org.staff_b, org.mgr_b, "2026-03-01T10:00")

    p7 = new_problem(make, mgr, "2026-03-01T09:00", org.a, cat="作风建设")
    t[11] = new_task(p7, mgr, "2026-03-01T09:00", staff, date(2026, 6, 30))
    close(t[11], staff, mgr, "2026-06-10T10:00")
    db.session.commit()
    return {"tasks": t, "problems": {1: p1, 2: p2, 3: p3, 4: p4, 5: p5, 6: p6, 7: p7}}


def figures_for(actor, unit, date_from=FROM, date_to=TO, clock=None):
    return rectification_figures(actor, unit, date_from, date_to, clock or when("2026-06-15T10:00"))


# --- figures ------------------------------------------------------------------------------------


def test_figures_of_the_hand_built_ledger(org, ledger):
    f = figures_for(org.mgr_a, org.a)
    assert (f.problems, f.problems_closed, f.measures) == (5, 1, 8)
    assert (f.closed, f.closed_on_time, f.closed_late) == (3, 2, 1)
    assert (f.in_progress, f.overdue, f.extensions) == (5, 1, 1)
    assert f.closure_rate == Decimal("37.5") and f.closure_rate_text == "37.5%"
    assert f.on_time_rate == Decimal("66.7") and f.on_time_rate_text == "66.7%"
    assert f.as_of == TO


def test_breakdown_by_source_and_category(org, ledger):
    f = figures_for(org.mgr_a, org.a)
    by_source = {r.key: (r.problems, r.measures, r.closed) for r in f.by_source}
    assert by_source == {"self_inspection": (3, 5, 2), "inspection_feedback": (1, 2, 1), "audit": (1, 1, 0)}
    assert [r.key for r in f.by_source] == ["self_inspection", "inspection_feedback", "audit"]
    by_category = {r.label: (r.problems, r.measures, r.closed) for r in f.by_category}
    assert by_category == {"政治建设": (2, 4, 2), "作风建设": (3, 4, 1)}
    assert [r.label for r in f.by_category] == ["政治建设", "作风建设"]


def test_closed_items_only_in_period_and_subtree_by_closing_date(org, ledger):
    t = ledger["tasks"]
    f = figures_for(org.mgr_a, org.a)
    assert [i.task_id for i in f.closed_items] == [t[1].id, t[2].id, t[3].id]
    first = f.closed_items[0]
    assert (first.measure, first.result, first.unit_name, first.closed_on) == (
        "健全学习制度", "制定学习制度3项", "第一党支部", date(2026, 3, 20))
    assert [i.on_time for i in f.closed_items] == [True, False, True]
    # T9 (problem found in 2025), T10 (unit B) and T11 (closed after the period) are not listed.
    listed = {i.task_id for i in f.closed_items}
    assert not listed & {t[9].id, t[10].id, t[11].id}


def test_open_items_with_days_overdue(org, ledger):
    t = ledger["tasks"]
    f = figures_for(org.mgr_a, org.a)
    days = {i.task_id: i.overdue_days for i in f.open_items}
    assert days == {t[4].id: 31, t[6].id: 0, t[7].id: 0, t[8].id: 0, t[11].id: 0}
    assert len(f.open_groups) == 4  # P2, P3, P4, P7


def test_period_end_after_today_uses_today_and_local_days(org, ledger):
    t = ledger["tasks"]
    f = figures_for(org.mgr_a, org.a, date_to=date(2026, 12, 31))
    assert f.as_of == date(2026, 6, 15)
    # T11 closed on 10 June now counts; T8 (submitted) is never overdue; T6's extension
    # (decided 1 June 00:30 Beijing time, still 31 May in UTC) now falls in the period.
    assert (f.closed, f.overdue, f.extensions) == (4, 1, 2)
    assert t[11].id in {i.task_id for i in f.closed_items}
    until_june_first = figures_for(org.mgr_a, org.a, date_to=date(2026, 6, 1))
    assert until_june_first.extensions == 2


@pytest.fixture
def request_ctx(app):
    """Errors carry translated messages; a request context gives them a locale."""
    with app.test_request_context():
        yield


def test_subtree_and_scope(org, ledger, request_ctx):
    a1 = figures_for(org.staff_a1, org.a1)
    assert (a1.problems, a1.measures, a1.closed) == (1, 2, 1)
    whole = figures_for(None, org.root)
    assert (whole.problems, whole.measures, whole.closed) == (6, 9, 4)  # P6 and T10 of unit B too
    with pytest.raises(PermissionDenied):
        figures_for(org.mgr_b, org.a)
    with pytest.raises(PermissionDenied):
        figures_for(org.staff_a1, org.a)


def test_no_measures_gives_dashes_not_errors(org, ledger):
    f = figures_for(org.mgr_b, org.b, date_from=date(2026, 6, 1), date_to=date(2026, 6, 30))
    assert (f.problems, f.measures, f.closure_rate, f.on_time_rate) == (0, 0, None, None)
    assert f.closure_rate_text == "—" and f.on_time_rate_text == "—"
    text = wording.build_text(wording.render_section(f, "zh_CN"))
    assert "未查找出需要整改的问题" in text and "本期暂无已销号的整改事项" in text


def test_percent_rounds_half_up_to_one_decimal():
    assert percent(2, 3) == Decimal("66.7")
    assert percent(1, 16) == Decimal("6.3")
    assert percent(3, 3) == Decimal("100.0")
    assert percent(0, 0) is None


def test_period_must_be_in_order(org, request_ctx):
    with pytest.raises(ValidationFailed) as info:
        figures_for(org.mgr_a, org.a, date_from=TO, date_to=FROM)
    assert "date_to" in info.value.fields


def test_query_count_does_not_grow_with_closed_items(org, make, queries):
    counts = []
    for n in (10, 100):
        unit = make.unit(parent=org.root)
        for i in range(n):
            problem = new_problem(make, org.mgr_root, "2026-01-05T09:00", unit)
            task = new_task(problem, org.mgr_root, "2026-01-05T09:00", org.staff_a, date(2026, 3, 1),
                            unit=unit)
            close(task, org.staff_a, org.mgr_root, f"2026-02-{1 + i % 28:02d}T10:00")
        db.session.commit()
        assert org.mgr_root.unit.path and unit.path  # loaded before counting: not part of the report
        with queries() as statements:
            f = figures_for(org.mgr_root, unit)
        assert f.closed == n
        counts.append(len(statements))
    assert counts[0] == counts[1]
    assert counts[0] <= 11  # 6 for the measures and items (closed ones in two: now, earlier rounds), 1 each
    # for notices, 签收, ratings, periods and re-checks


# --- wording -------------------------------------------------------------------------------------


def test_chinese_markdown_has_numbering_and_phrases(org, ledger):
    md = wording.build_markdown(wording.render_section(figures_for(org.mgr_a, org.a), "zh_CN"))
    for heading in ("# 第一党支部问题整改情况", "## 一、问题整改情况", "### （一）总体情况",
                    "### （二）分类整改情况", "### （三）已完成整改事项", "## 二、存在问题和下一步打算",
                    "### （一）存在问题", "### （二）下一步打算"):
        assert f"\n{heading}\n" in f"\n{md}"
    assert "针对查找出的突出问题逐项列出问题清单、责任清单、整改清单" in md
    assert ("截至2026年5月31日，共查找问题5个，制定整改措施8条，已销号3条，销号率37.5%，"
            "其中按期销号2条，按期销号率66.7%，逾期销号1条；"
            "正在整改5条，其中已超过整改时限1条；经审批延期1条") in md
    assert "扎实抓好整改落实3件，做到了件件有着落、事事有回音" in md
    assert "自查发现问题3个，制定整改措施5条，已销号2条；巡察反馈发现问题1个" in md
    assert "\n1. 问题" in md and "\n2. 问题" in md
    assert ("（1）整改措施：健全学习制度。整改成效：制定学习制度3项。"
            "责任单位：第一党支部；销号日期：2026年3月20日。") in md
    assert ("（2）整改措施：开展专题培训。整改成效：已整改到位。"
            "责任单位：第一党支部；销号日期：2026年4月10日（逾期销号）。") in md
    assert "已逾期31天" in md and "整改时限：长期坚持" in md


def test_plain_text_has_no_markdown_markers(org, ledger):
    text = wording.build_text(wording.render_section(figures_for(org.mgr_a, org.a), "zh_CN"))
    assert text.startswith("第一党支部问题整改情况\n一、问题整改情况\n（一）总体情况\n")
    assert "#" not in text


def test_english_output(org, ledger):
    section = wording.render_section(figures_for(org.mgr_a, org.a), "en")
    md = wording.build_markdown(section)
    assert "## I. Rectification of problems" in md and "### (III) Measures closed out" in md
    assert "5 problems were found and 8 measures set" in md
    assert "3 closed out (closure rate 37.5%), 2 of them on time (on-time rate 66.7%)" in md
    assert "Self-inspection: 3 problems" in md and "Inspection feedback: 1 problem," in md
    assert "closed out on 10 April 2026 (late)" in md and "31 days overdue" in md
    assert "问题整改情况" not in md and "销号率" not in md  # none of the Chinese wording
    assert wording.filename(figures_for(org.mgr_a, org.a), "en", "md").startswith("Rectification_")


def test_admin_override_template_is_used(app, org, ledger):
    folder = Path(app.instance_path) / "report_templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "section_zh.md.j2").write_text(
        "# 自定义标题\n\n## 一、整改情况\n\n"
        "{{ unit.name }}已销号{{ f.closed }}条，销号率{{ f.closure_rate_text }}。\n",
        encoding="utf-8")
    section = wording.render_section(figures_for(org.mgr_a, org.a), "zh_CN")
    assert section.title == "自定义标题"
    assert wording.build_text(section) == "自定义标题\n一、整改情况\n第一党支部已销号3条，销号率37.5%。\n"
    english = wording.render_section(figures_for(org.mgr_a, org.a), "en")  # not overridden
    assert english.title.startswith("Rectification of problems")


def test_broken_override_template_is_a_clear_error(app, client, login_as, runner, org, ledger, tmp_path):
    folder = Path(app.instance_path) / "report_templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "section_zh.md.j2").write_text("# 标题\n{{ f.no_such_figure }}\n", encoding="utf-8")
    login_as(org.mgr_a)
    response = client.get("/reports/rectification", query_string=query(org.a, lang="zh_CN"))
    assert response.status_code == 422
    assert "section_zh.md.j2" in response.get_data(as_text=True)
    out = tmp_path / "r.md"
    result = runner.invoke(args=["report", "--unit", "A", "--from", "2026-01-01", "--to", "2026-05-31",
                                 "-o", str(out)])
    assert result.exit_code == 1 and "section_zh.md.j2" in result.output
    assert not out.exists()


def test_filename_is_chinese_and_safe(org, ledger):
    f = figures_for(org.mgr_a, org.a)
    assert wording.filename(f, "zh_CN", "docx") == "整改情况_第一党支部_2026-01-01_2026-05-31.docx"
    org.a.name = "第一/党支部 二"
    assert wording.filename(f, "zh_CN", "md") == "整改情况_第一_党支部_二_2026-01-01_2026-05-31.md"


# --- DOCX ------------------------------------------------------------------------------------------


def east_asia(run):
    return run._r.rPr.rFonts.get(qn("w:eastAsia"))


def paragraph_starting(document, text):
    return next(p for p in document.paragraphs if p.text.startswith(text))


@pytest.fixture
def docx_document(org, ledger):
    data = build_docx(wording.render_section(figures_for(org.mgr_a, org.a), "zh_CN"))
    return Document(BytesIO(data))


def test_docx_page_is_a4_with_official_margins(docx_document):
    sec = docx_document.sections[0]
    for value, mm in ((sec.page_width, 210), (sec.page_height, 297), (sec.top_margin, 37),
                      (sec.bottom_margin, 35), (sec.left_margin, 28), (sec.right_margin, 26)):
        assert abs(value.mm - mm) < 0.1


def test_docx_title_and_body_fonts(docx_document):
    title = docx_document.paragraphs[0]
    assert title.text == "第一党支部问题整改情况"
    run = title.runs[0]
    assert (run.font.name, east_asia(run), run.font.size) == ("方正小标宋简体", "方正小标宋简体", Pt(22))
    body = paragraph_starting(docx_document, "2026年1月1日至5月31日")
    run = body.runs[0]
    assert (run.font.name, east_asia(run), run.font.size) == ("仿宋_GB2312", "仿宋_GB2312", Pt(16))
    fmt = body.paragraph_format
    assert fmt.first_line_indent == Pt(32)
    assert fmt.line_spacing_rule == WD_LINE_SPACING.EXACTLY and 28 <= fmt.line_spacing.pt <= 29
    normal = docx_document.styles["Normal"]
    assert normal.element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"


def test_docx_heading_fonts(docx_document):
    h1 = paragraph_starting(docx_document, "一、问题整改情况").runs[0]
    h2 = paragraph_starting(docx_document, "（一）总体情况").runs[0]
    assert (east_asia(h1), h1.font.size) == ("黑体", Pt(16))
    assert (east_asia(h2), h2.font.size) == ("楷体_GB2312", Pt(16))
    item = paragraph_starting(docx_document, "（1）整改措施").runs[0]
    assert east_asia(item) == "仿宋_GB2312"


def test_docx_footer_has_page_field_between_dashes(docx_document):
    sec = docx_document.sections[0]
    for footer in (sec.footer, sec.even_page_footer):
        xml = footer._element.xml
        assert "PAGE" in "".join(t.text for t in footer._element.iter(qn("w:instrText")))
        assert 'w:fldCharType="begin"' in xml and 'w:fldCharType="end"' in xml
        text = "".join(t.text or "" for t in footer._element.iter(qn("w:t")))
        assert text == "— 1 —"
        run = footer.paragraphs[0].runs[0]
        assert (east_asia(run), run.font.size) == ("宋体", Pt(14))


# --- web ---------------------------------------------------------------------------------------------


def query(unit, date_from="2026-01-01", date_to="2026-05-31", **extra):
    return {"unit": unit.id, "date_from": date_from, "date_to": date_to, **extra}


def test_preview_for_a_manager_shows_figures_and_text(client, login_as, org, ledger):
    login_as(org.mgr_a)
    response = client.get("/reports/rectification", query_string=query(org.a))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-figure="closed">3<' in html and 'data-figure="measures">8<' in html
    assert 'data-figure="closure_rate">37.5%<' in html and 'data-figure="on_time_rate">66.7%<' in html
    assert "扎实抓好整改落实3件" in html and 'id="copy-report"' in html and "reports.js" in html
    assert "/reports/rectification.docx?" in html and "/reports/rectification.md?" in html
    assert "<script>" not in html


def test_preview_defaults_to_own_unit_and_this_year(client, login_as, org, ledger):
    login_as(org.staff_a1)
    html = client.get("/reports/rectification").get_data(as_text=True)
    assert 'value="2026-01-01"' in html and 'value="2026-06-15"' in html
    assert 'data-figure="problems">1<' in html  # only P2, found in A1


@pytest.mark.parametrize("user", ["viewer_root", "viewer_b", "staff_a", "admin"])
def test_every_role_may_see_the_preview(client, login_as, org, ledger, user):
    login_as(org.users[user])
    assert client.get("/reports/rectification").status_code == 200


def test_preview_needs_login(client, org):
    response = client.get("/reports/rectification")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("user, unit, args, field", [
    ("mgr_b", "a", {}, "unit"),
    ("staff_a1", "a", {}, "unit"),
    ("mgr_a", "a", {"date_from": "2026-13-01"}, "date_from"),
    ("mgr_a", "a", {"date_to": "next week"}, "date_to"),
    ("mgr_a", "a", {"date_from": "2026-06-01", "date_to": "2026-01-01"}, "date_to"),
    ("mgr_a", "a", {"unit": "abc"}, "unit"),
    ("mgr_a", "a", {"unit": "99999"}, "unit"),
])
def test_bad_input_is_a_form_error(client, login_as, org, ledger, user, unit, args, field):
    login_as(org.users[user])
    for path in ("/reports/rectification", "/reports/rectification.docx", "/reports/rectification.md"):
        response = client.get(path, query_string={**query(org.units[unit]), **args})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert f'data-error-for="{field}"' in html
        assert "data-figure" not in html


def test_docx_download_is_an_attachment_with_a_chinese_name(client, login_as, org, ledger):
    login_as(org.mgr_a)
    response = client.get("/reports/rectification.docx", query_string=query(org.a))
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert quote("整改情况_第一党支部_2026-01-01_2026-05-31.docx") in disposition
    document = Document(BytesIO(response.data))
    assert document.paragraphs[0].text == "第一党支部问题整改情况"


def test_markdown_download_in_english(client, login_as, org, ledger):
    login_as(org.mgr_a)
    response = client.get("/reports/rectification.md", query_string=query(org.a, lang="en"))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.mimetype == "text/markdown"
    assert "## I. Rectification of problems" in response.get_data(as_text=True)


# --- Markdown: user text cannot script a viewer ------------------------------------------------------


HOSTILE = {
    "unit": "第一党支部<script>alert('unit')</script>",
    "description": "问题<script>alert(1)</script>描述 <javascript:alert(8)>",
    "measure": "整改<img src=x onerror=alert(2)>措施",
    "result": ("[点此查看](javascript:alert(3)) ![图](javascript:alert(4))"
               " <a href=\"javascript:alert(5)\">链接</a> \\[反斜杠](javascript:alert(9))"
               " &lt;i&gt;实体&lt;/i&gt; *星号* _下划线_ `代码`"),
    "owner": "王<iframe src=javascript:alert(7)>五",
    "category": "<svg onload=alert(6)>类别",
}
SAFE_TAGS = {"h1", "h2", "h3", "p", "ol", "ul", "li"}


class Rendered(HTMLParser):
    """What a Markdown viewer that renders HTML would build: its tags, attributes and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.texts = set(), [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.texts.append(data)


@pytest.fixture
def hostile(org, make, ledger):
    """Ledger A's report with markup and Markdown link syntax in every kind of user text."""
    problem = new_problem(make, org.mgr_a, "2026-02-01T09:00", org.a)
    category("政治建设").name = HOSTILE["category"]
    org.a.name = HOSTILE["unit"]
    org.staff_a1.name = HOSTILE["owner"]
    problem.description = HOSTILE["description"]
    done = new_task(problem, org.mgr_a, "2026-02-01T09:00", org.staff_a, date(2026, 4, 30),
                    measure=HOSTILE["measure"])
    close(done, org.staff_a, org.mgr_a, "2026-03-01T10:00", result=HOSTILE["result"])
    new_task(problem, org.mgr_a, "2026-02-01T09:00", org.staff_a1, date(2026, 8, 31), measure="持续整改")
    db.session.commit()
    return org


def assert_safe_markdown(md: str) -> None:
    html = MarkdownIt("commonmark", {"html": True}).render(md)
    page = Rendered(html)
    assert page.tags <= SAFE_TAGS, (page.tags, html)
    assert not any("javascript" in (value or "") for _, value in page.attrs), html
    text = "".join(page.texts)
    for value in HOSTILE.values():  # every user text reads back as written, as text
        assert value in text, value


def test_markdown_escapes_user_text_for_viewers_that_render_html(hostile):
    section = wording.render_section(figures_for(hostile.mgr_a, hostile.a), "zh_CN")
    md = wording.build_markdown(section)
    assert_safe_markdown(md)
    assert md.startswith("# 第一党支部&lt;script&gt;alert('unit')&lt;/script&gt;问题整改情况\n")
    assert "\\[点此查看\\](javascript:alert(3))" in md and "\\\\\\[反斜杠\\]" in md
    # The plain text and the DOCX keep the user's text exactly as written.
    text = wording.build_text(section)
    assert HOSTILE["description"] in text and HOSTILE["result"] in text
    paragraphs = [p.text for p in Document(BytesIO(build_docx(section))).paragraphs]
    assert any(HOSTILE["measure"] in p for p in paragraphs)


def test_markdown_of_ordinary_chinese_text_is_unchanged(org, ledger):
    section = wording.render_section(figures_for(org.mgr_a, org.a), "zh_CN")
    md = wording.build_markdown(section)
    assert md == "\n\n".join({"title": "# ", "h1": "## ", "h2": "### "}.get(b.kind, "") + b.text
                              for b in section.blocks) + "\n"
    assert "\\" not in md and "&" not in md


def test_user_text_at_the_start_of_a_line_never_becomes_a_heading(app, org, ledger):
    folder = Path(app.instance_path) / "report_templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "section_zh.md.j2").write_text("# 标题\n\n{{ unit.name }}\n", encoding="utf-8")
    org.a.name = "## 伪造的标题"
    section = wording.render_section(figures_for(org.mgr_a, org.a), "zh_CN")
    assert [b.kind for b in section.blocks] == ["title", "p"] and section.blocks[1].text == "## 伪造的标题"
    assert wording.build_markdown(section) == "# 标题\n\n\\## 伪造的标题\n"


def test_markdown_downloads_are_escaped_with_one_charset(client, login_as, hostile):
    login_as(hostile.mgr_a)
    response = client.get("/reports/rectification.md", query_string=query(hostile.a))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert_safe_markdown(response.get_data(as_text=True))
    _, token = api_tokens.create_token(hostile.mgr_a, when("2026-06-15T10:00"), name="t")
    db.session.commit()
    response = client.get("/api/v1/reports/rectification", headers={"Authorization": f"Bearer {token}"},
                          query_string={"unit": hostile.a.id, "from": "2026-01-01", "to": "2026-05-31",
                                        "format": "md"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert_safe_markdown(response.get_data(as_text=True))


# --- command line ---------------------------------------------------------------------------------------


def test_cli_writes_markdown_and_docx(runner, org, ledger, tmp_path):
    md, docx_file = tmp_path / "r.md", tmp_path / "r.docx"
    base = ["report", "--unit", "A", "--from", "2026-01-01", "--to", "2026-05-31"]
    result = runner.invoke(args=[*base, "--format", "md", "-o", str(md)])
    assert result.exit_code == 0, result.output
    assert "已销号3条" in md.read_text(encoding="utf-8")
    result = runner.invoke(args=[*base, "--format", "docx", "-o", str(docx_file), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert Document(str(docx_file)).paragraphs[0].text == "Rectification of problems: 第一党支部"


@pytest.mark.parametrize("args", [
    ["--unit", "NOPE", "--from", "2026-01-01", "--to", "2026-05-31"],
    ["--unit", "A", "--from", "2026-02-30", "--to", "2026-05-31"],
    ["--unit", "A", "--from", "2026-06-01", "--to", "2026-05-31"],
])
def test_cli_refuses_bad_input_and_writes_nothing(runner, org, ledger, tmp_path, args):
    out = tmp_path / "r.md"
    result = runner.invoke(args=["report", *args, "--format", "md", "-o", str(out)])
    assert result.exit_code != 0
    assert not out.exists()


def test_numbers_do_not_depend_on_the_clock_for_past_periods(org, ledger):
    later = figures_for(org.mgr_a, org.a, clock=when("2026-09-01T10:00"))
    assert (later.closed, later.overdue, later.as_of) == (3, 1, TO)
    assert later.open_items[0].overdue_days == (TO - date(2026, 4, 30)).days
    assert TO - timedelta(days=31) == date(2026, 4, 30)


@pytest.mark.parametrize("args", ["date_from=0001-01-01&date_to=2026-06-15",
                                  "date_from=2026-01-01&date_to=9999-12-31"])
def test_preview_refuses_dates_out_of_range(client, org, login_as, args):
    login_as(org.mgr_a)
    response = client.get(f"/reports/rectification?unit={org.a.id}&{args}")
    assert response.status_code == 422
