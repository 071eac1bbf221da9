"""The report's DOCX streams its body as text: the same package python-docx writes paragraph by paragraph.

`python_docx_build` is how `build_docx` used to make the document (every block a python-docx paragraph,
which took 35 s and 400 MB for a section of 10k closed items); the streamed document must be the same
file, part for part and byte for byte: the same text, paragraphs, fonts, spacing, styles and page.
"""

from __future__ import annotations

import zipfile
from datetime import date, timedelta
from io import BytesIO

import pytest
from conftest import TODAY
from docx import Document
from docx.oxml.ns import qn

from tracker.extensions import db
from tracker.reports import document
from tracker.reports import section as wording
from tracker.reports.section import Block, Section
from tracker.reports.services import rectification_figures
from tracker.tasks import services as tasks

TRICKY = [
    "普通的一段文字。", "  leading spaces", "trailing spaces  ", "tab\tinside", "\ttab first", "tab last\t",
    "two\t\ttabs", "a  \tb", "line\nbreak", "carriage\rreturn", "crlf\r\nbreak", "a&b <c> \"d\" 'e'",
    "&amp; stays text", "emoji 😀 and 𠀀", "\u3000全角空格开头", "全角空格结尾\u3000", "x" * 5000, "—",
]


def python_docx_build(section: Section) -> bytes:
    """Every block a python-docx paragraph, as build_docx did before it streamed the body."""
    doc = Document()
    document._page_setup(doc)
    document._footers(doc)
    doc.core_properties.title = section.title
    doc.core_properties.language = "zh-CN" if section.lang == "zh_CN" else "en"
    for block in section.blocks:
        if block.kind == "title":
            document._title(doc, block.text)
        else:
            document._block(doc, block.kind, block.text)
    buffer = BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def assert_same_package(streamed: bytes, expected: bytes) -> None:
    got, want = zipfile.ZipFile(BytesIO(streamed)), zipfile.ZipFile(BytesIO(expected))
    assert got.namelist() == want.namelist()
    for name in want.namelist():
        assert got.read(name) == want.read(name), name


def tricky_section(lang: str = "zh_CN") -> Section:
    blocks = [Block("title", "标题 & <副标题>")]
    blocks += [Block(kind, text) for text in TRICKY for kind in ("h1", "h2", "p")]
    blocks.append(Block("title", "a second title"))
    return Section(title="标题 & <副标题>", blocks=blocks, lang=lang)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_streamed_docx_is_the_python_docx_document_byte_for_byte(lang):
    section = tricky_section(lang)
    assert_same_package(document.build_docx(section), python_docx_build(section))


def test_paragraphs_read_back_as_the_blocks_with_their_fonts():
    section = tricky_section()
    paragraphs = Document(BytesIO(document.build_docx(section))).paragraphs
    # python-docx reads a <w:br/> back as "\n": a CR comes back as a line break, as it always did.
    assert [p.text for p in paragraphs] == [b.text.replace("\r\n", "\n\n").replace("\r", "\n")
                                            for b in section.blocks]
    fonts = {"title": "方正小标宋简体", "h1": "黑体", "h2": "楷体_GB2312", "p": "仿宋_GB2312"}
    for paragraph, block in zip(paragraphs, section.blocks, strict=True):
        run = paragraph.runs[0]
        assert run._r.rPr.rFonts.get(qn("w:eastAsia")) == fonts[block.kind]


def test_the_body_is_the_same_whatever_the_size_of_its_pieces(monkeypatch):
    section = tricky_section()
    whole = document.build_docx(section)
    monkeypatch.setattr(document, "CHUNK", 3)
    assert_same_package(document.build_docx(section), whole)


def test_characters_xml_cannot_hold_are_dropped_instead_of_failing_the_document():
    text = "控制\x00字符\x07与\x1f非字符\ufffe\uffff"
    section = Section(title="t", blocks=[Block("title", "t"), Block("p", text)], lang="zh_CN")
    with pytest.raises(ValueError):  # what python-docx (lxml) made of it: no document at all
        python_docx_build(section)
    paragraphs = Document(BytesIO(document.build_docx(section))).paragraphs
    assert paragraphs[1].text == "控制字符与非字符"


@pytest.fixture
def closed_and_open(org, make, clock):
    """Unit A: problems with measures closed out (user text that needs escaping) and still open."""
    texts = ["<b>加粗</b> & “引号”", "=1+1 成效", "  前后空格  ", "普通成效"]
    for i, text in enumerate(texts):
        problem = make.problem(org.mgr_a, org.a, description=f"问题{i}：{text}")
        for j in range(3):
            task = make.task(org.mgr_a, problem, owner=org.staff_a, measure=f"措施{i}-{j}：{text}",
                             deadline=TODAY + timedelta(days=j * 10))
            if j < 2:
                tasks.submit(task, org.staff_a, clock, result=f"成效{j}：{text}")
                tasks.verify(task, org.mgr_a, clock)
    db.session.commit()
    return org


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_rendered_report_streams_to_the_python_docx_document(closed_and_open, clock, lang):
    org = closed_and_open
    figures = rectification_figures(org.mgr_a, org.a, date(2026, 1, 1), TODAY, clock)
    assert len(figures.closed_items) == 8 and len(figures.open_items) == 4
    section = wording.render_section(figures, lang)
    data = document.build_docx(section)
    assert_same_package(data, python_docx_build(section))
    assert [p.text for p in Document(BytesIO(data)).paragraphs] == [b.text for b in section.blocks]
