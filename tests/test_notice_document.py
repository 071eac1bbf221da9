"""A notice's DOCX (official-document layout from a docxtpl template): opened with python-docx and
checked; an admin's own template with placeholders is used when present."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from conftest import TODAY, Factory, when
from docx import Document

from tracker.extensions import db
from tracker.supervision import document, services
from tracker.supervision.models import NoticeKind


@pytest.fixture
def notice(org):
    early = Factory(when("2026-05-01T09:00:00"))
    problem = early.problem(org.mgr_a, org.a, found_on=date(2026, 4, 20))
    listed = [early.task(org.mgr_a, problem, owner=owner, deadline=TODAY - timedelta(days=d),
                         measure=f"建立健全<制度>&台账{d}")
              for d, owner in ((3, org.staff_a), (9, org.staff_a1), (1, org.staff_a))]
    db.session.commit()
    clock = when("2026-06-15T10:00:00")
    for _ in range(2):  # the third notice of the year
        made = services.issue(org.mgr_a, clock, kind=NoticeKind.SUPERVISION, task_ids=[listed[0].id],
                              reply_due_on=TODAY + timedelta(days=5), body="第一段。")
    made = services.issue(org.mgr_a, clock, kind=NoticeKind.SUPERVISION, task_ids=[t.id for t in listed],
                          reply_due_on=date(2026, 6, 20), body="第一段。\n\n第二段。")
    db.session.commit()
    return made


def _text(doc) -> str:
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_the_default_docx_is_an_a4_official_document_with_every_measure(notice):
    doc = Document(io.BytesIO(document.build_docx(notice)))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)  # A4
    assert (round(section.top_margin.mm), round(section.left_margin.mm)) == (37, 28)
    paragraphs = [p.text for p in doc.paragraphs if p.text.strip()]
    assert paragraphs[:4] == ["第一党支部", "督办单", "〔2026〕第3期", "第一党支部："]
    assert paragraphs[4:6] == ["第一段。", "第二段。"]
    assert paragraphs[-2:] == ["第一党支部", "2026年6月15日"]
    head = doc.paragraphs[0].runs[0]
    assert head.font.color.rgb is not None and str(head.font.color.rgb) == "E60012"
    body_run = doc.paragraphs[4].runs[0] if doc.paragraphs[4].runs else None
    assert doc.styles["Normal"].font.name == "仿宋_GB2312"
    assert body_run is None or body_run.font.name in (None, "仿宋_GB2312")
    [table] = doc.tables
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["序号", "问题编号", "整改措施", "责任单位", "责任人", "整改时限", "状态"]
    assert [r[2] for r in rows[1:]] == [i.task.measure for i in notice.items]  # escaped and restored
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"] and rows[2][4] == "李四"
    assert "{{" not in _text(doc) and "{%" not in _text(doc)


def test_a_custom_template_with_placeholders_is_used_when_present(app, notice, tmp_path):
    custom = Document()
    custom.add_paragraph("自定义红头 {{ issuing_unit }}")
    custom.add_paragraph("文号：{{ number_text }}（{{ colour }}）")
    custom.add_paragraph("{% for m in measures %}[{{ m.measure }}]{% endfor %}")
    buffer = io.BytesIO()
    custom.save(buffer)
    document.save_custom_template(buffer.getvalue())
    assert document.has_custom_template()
    doc = Document(io.BytesIO(document.build_docx(notice)))
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "自定义红头 第一党支部" and texts[1] == "文号：〔2026〕第3期（红色）"
    assert texts[2] == "".join(f"[{i.task.measure}]" for i in notice.items)
    document.remove_custom_template()
    assert not document.has_custom_template()


@pytest.mark.parametrize("data", [b"", b"not a zip", "bad"], ids=["empty", "junk", "bad-placeholder"])
def test_a_broken_template_is_refused_and_the_default_stays(app, data):
    from tracker.errors import ValidationFailed

    if data == "bad":
        broken = Document()
        broken.add_paragraph("{{ unclosed ")
        buffer = io.BytesIO()
        broken.save(buffer)
        data = buffer.getvalue()
    with pytest.raises(ValidationFailed):
        document.save_custom_template(data)
    assert not document.has_custom_template()
