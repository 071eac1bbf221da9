"""Builds the default notice template (notice_template.docx, shipped beside this file) with python-docx,
reusing the report's official-document conventions (tracker.reports.document): A4, GB/T 9704 margins,
红头 (the issuing unit in red 方正小标宋简体 over a red rule), 文号, addressee, body in 仿宋_GB2312 三号,
the table of measures, the issuing unit and date. The placeholders are docxtpl's (Jinja2):
`{{ … }}`, `{%p for … %}` for paragraphs and `{%tr for … %}` for table rows.

    python -m tracker.supervision.template_source   # rewrites notice_template.docx
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor

from tracker.reports.document import (
    BODY_FONT,
    BODY_SIZE,
    H1_FONT,
    TITLE_FONT,
    TITLE_SIZE,
    _fixed_lines,
    _footers,
    _page_setup,
    set_font,
)

DEFAULT_TEMPLATE = Path(__file__).with_name("notice_template.docx")
RED = RGBColor(0xE6, 0x00, 0x12)
RED_HEAD_SIZE = Pt(36)  # the issuing unit's name (发文机关标志)
TABLE_FONT_SIZE = Pt(12)  # 小四: a table of measures in 三号 would not fit
COLUMNS = (("序号", "{{ m.index }}"), ("问题编号", "{{ m.problem_number }}"), ("整改措施", "{{ m.measure }}"),
           ("责任单位", "{{ m.unit }}"), ("责任人", "{{ m.owner }}"), ("整改时限", "{{ m.deadline }}"),
           ("状态", "{{ m.state }}"))


def _paragraph(document, text: str, font: str = BODY_FONT, size=BODY_SIZE, *, align=None, indent=False,
               colour=None):
    paragraph = document.add_paragraph()
    _fixed_lines(paragraph, first_line_indent=indent)
    if align is not None:
        paragraph.alignment = align
    run = paragraph.add_run(text)
    set_font(run, font, size)
    if colour is not None:
        run.font.color.rgb = colour
    return paragraph


def _red_rule(paragraph) -> None:
    """The red line under the 红头 (a bottom border of the 文号 paragraph)."""
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "18"), ("w:space", "6"), ("w:color", "E60012")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    paragraph._p.get_or_add_pPr().append(borders)


def _cell(cell, text: str, bold: bool = False) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER if len(text) < 20 else WD_ALIGN_PARAGRAPH.LEFT
    run = paragraph.add_run(text)
    set_font(run, H1_FONT if bold else BODY_FONT, TABLE_FONT_SIZE)


def build(path: Path = DEFAULT_TEMPLATE) -> Path:
    document = Document()
    _page_setup(document)
    _footers(document)
    head = _paragraph(document, "{{ issuing_unit }}", TITLE_FONT, RED_HEAD_SIZE,
                      align=WD_ALIGN_PARAGRAPH.CENTER, colour=RED)
    head.paragraph_format.line_spacing = Pt(50)
    title = _paragraph(document, "{{ title }}", TITLE_FONT, TITLE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER,
                       colour=RED)
    title.paragraph_format.line_spacing = Pt(40)
    number = _paragraph(document, "{{ number_text }}", align=WD_ALIGN_PARAGRAPH.CENTER)
    _red_rule(number)
    _paragraph(document, "")
    _paragraph(document, "{{ addressee }}：")
    _paragraph(document, "{%p for para in paragraphs %}")
    _paragraph(document, "{{ para }}", indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _paragraph(document, "{%p endfor %}")
    _paragraph(document, "附：整改措施清单（共{{ measures|length }}项）")
    table = document.add_table(rows=4, cols=len(COLUMNS))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, (header, value) in enumerate(COLUMNS):
        _cell(table.rows[0].cells[i], header, bold=True)
        _cell(table.rows[2].cells[i], value)
    _cell(table.rows[1].cells[0], "{%tr for m in measures %}")
    _cell(table.rows[3].cells[0], "{%tr endfor %}")
    _paragraph(document, "")
    _paragraph(document, "{{ issuing_unit }}", align=WD_ALIGN_PARAGRAPH.RIGHT)
    _paragraph(document, "{{ issued_on }}", align=WD_ALIGN_PARAGRAPH.RIGHT)
    document.core_properties.title = "提醒函 / 督办单"
    document.core_properties.language = "zh-CN"
    document.save(path)
    return path


if __name__ == "__main__":
    print(build())
