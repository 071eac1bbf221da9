"""The section as a DOCX laid out like an official document (GB/T 9704-2012 党政机关公文格式).

A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; title 二号 方正小标宋简体 centred;
body 三号 仿宋_GB2312 with a two-character first-line indent and a fixed 28.95 pt line (22 lines a
page); 一、 headings 黑体, （一） headings 楷体_GB2312; page numbers "— 1 —" in 四号 宋体, odd pages
on the right and even pages on the left, one character in from the edge.
"""

from __future__ import annotations

from io import BytesIO

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.text.paragraph import Paragraph

from tracker.reports.section import Section

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
H1_FONT = "黑体"
H2_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
TITLE_SIZE = Pt(22)  # 二号
BODY_SIZE = Pt(16)  # 三号
PAGE_NUMBER_SIZE = Pt(14)  # 四号
LINE = Pt(28.95)
INDENT = Pt(32)  # two characters of 三号
FONTS = {"h1": H1_FONT, "h2": H2_FONT, "p": BODY_FONT}
OUTLINE_LEVELS = {"title": None, "h1": 0, "h2": 1, "p": None}


def set_font(target, name: str, size: Pt | None = None) -> None:
    """Set a run's or a style's font for Latin AND East-Asian text (font.name sets only the former)."""
    target.font.name = name
    if size is not None:
        target.font.size = size
    fonts = target.element.get_or_add_rPr().get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), name)


def _fixed_lines(paragraph, first_line_indent: bool) -> None:
    fmt = paragraph.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = LINE
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    if first_line_indent:
        fmt.first_line_indent = INDENT
        # Word measures a character-based indent in hundredths of a character; it wins over twips.
        paragraph._p.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), "200")


def _outline(paragraph, level: int | None) -> None:
    """An outline level lets Word's navigation pane show the headings without heading styles."""
    if level is None:
        return
    element = OxmlElement("w:outlineLvl")
    element.set(qn("w:val"), str(level))
    paragraph._p.get_or_add_pPr().append(element)


def _page_setup(document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.header_distance, section.footer_distance = Mm(15), Mm(25)
    normal = document.styles["Normal"]
    set_font(normal, BODY_FONT, BODY_SIZE)


def _field(paragraph, instruction: str) -> None:
    """A complex field (begin, instruction, separate, placeholder result, end) such as PAGE."""
    def fld_char(kind: str):
        run = paragraph.add_run()
        set_font(run, PAGE_NUMBER_FONT, PAGE_NUMBER_SIZE)
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), kind)
        run._r.append(char)
        return run

    fld_char("begin")
    run = paragraph.add_run()
    set_font(run, PAGE_NUMBER_FONT, PAGE_NUMBER_SIZE)
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = f" {instruction} "
    run._r.append(text)
    fld_char("separate")
    placeholder = paragraph.add_run("1")
    set_font(placeholder, PAGE_NUMBER_FONT, PAGE_NUMBER_SIZE)
    fld_char("end")


def _page_number(footer, alignment) -> None:
    paragraph = footer.paragraphs[0]
    paragraph.alignment = alignment
    fmt = paragraph.paragraph_format
    # One character in from the text's edge, as GB/T 9704 asks.
    fmt.right_indent = PAGE_NUMBER_SIZE if alignment == WD_ALIGN_PARAGRAPH.RIGHT else None
    fmt.left_indent = PAGE_NUMBER_SIZE if alignment == WD_ALIGN_PARAGRAPH.LEFT else None
    for text in ("— ", None, " —"):
        if text is None:
            _field(paragraph, "PAGE")
        else:
            set_font(paragraph.add_run(text), PAGE_NUMBER_FONT, PAGE_NUMBER_SIZE)


def _footers(document) -> None:
    document.settings.odd_and_even_pages_header_footer = True
    section = document.sections[0]
    _page_number(section.footer, WD_ALIGN_PARAGRAPH.RIGHT)
    _page_number(section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)


class _Appender:
    """Adds body paragraphs in O(1) each.

    `Document.add_paragraph` looks for the trailing `w:sectPr` by scanning the whole body, so a
    section with 50,000 items took minutes; inserting before a remembered sectPr does not.
    """

    def __init__(self, document):
        self.document = document
        self.body = document.element.body
        self.sect_pr = self.body.find(qn("w:sectPr"))

    def add_paragraph(self) -> Paragraph:
        element = OxmlElement("w:p")
        if self.sect_pr is not None:
            self.sect_pr.addprevious(element)
        else:
            self.body.append(element)
        return Paragraph(element, self.document._body)


def _title(document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _fixed_lines(paragraph, first_line_indent=False)
    paragraph.paragraph_format.line_spacing = Pt(35)  # a 22 pt title needs more than the body's line
    paragraph.paragraph_format.space_after = LINE  # one empty line between title and body
    set_font(paragraph.add_run(text), TITLE_FONT, TITLE_SIZE)


def _block(document, kind: str, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    _fixed_lines(paragraph, first_line_indent=True)
    _outline(paragraph, OUTLINE_LEVELS[kind])
    set_font(paragraph.add_run(text), FONTS[kind], BODY_SIZE)


def build_docx(section: Section) -> bytes:
    """The section as DOCX bytes (pure: no database, no request)."""
    document = Document()
    _page_setup(document)
    _footers(document)
    document.core_properties.title = section.title
    document.core_properties.language = "zh-CN" if section.lang == "zh_CN" else "en"
    body = _Appender(document)
    for block in section.blocks:
        if block.kind == "title":
            _title(body, block.text)
        else:
            _block(body, block.kind, block.text)
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()
