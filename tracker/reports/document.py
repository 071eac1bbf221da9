"""The section as a DOCX laid out like an official document (GB/T 9704-2012 党政机关公文格式).

A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; title 二号 方正小标宋简体 centred;
body 三号 仿宋_GB2312 with a two-character first-line indent and a fixed 28.95 pt line (22 lines a
page); 一、 headings 黑体, （一） headings 楷体_GB2312; page numbers "— 1 —" in 四号 宋体, odd pages
on the right and even pages on the left, one character in from the edge.

python-docx lays out the page, the footers and one paragraph of each kind; the body is those
paragraphs' XML repeated with each block's text, streamed into the package. A section of 10k closed
items (and the open ones) has some 70k paragraphs: built one by one with python-docx they took 20-40 s
and 470 MB (it walks the XML for every property it sets and keeps every element); as text, 0.4 s.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from io import BytesIO
from itertools import islice

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

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


DOCUMENT_PART = "word/document.xml"
# Placeholder text of the sample paragraphs; the body's <w:t> of each kind is cut out around it.
SAMPLE = "SAMPLE-{}"
KINDS = ("title", "h1", "h2", "p")
CHUNK = 2000  # paragraphs per write into the compressor
# What XML 1.0 cannot carry (lxml refused it, failing the whole document): dropped from the text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_RUN_BREAKS = re.compile(r"([\t\r\n])")


def _skeleton(section: Section) -> bytes:
    """The whole document with one sample paragraph of each kind as its body."""
    document = Document()
    _page_setup(document)
    _footers(document)
    document.core_properties.title = section.title
    document.core_properties.language = "zh-CN" if section.lang == "zh_CN" else "en"
    _title(document, SAMPLE.format("title"))
    for kind in KINDS[1:]:
        _block(document, kind, SAMPLE.format(kind))
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _templates(xml: str) -> tuple[str, dict[str, tuple[str, str]], str]:
    """The skeleton's document.xml as (everything before the body's paragraphs, each kind's paragraph
    before and after its text, everything after: the section properties and the closing tags)."""
    start = xml.index("<w:body>") + len("<w:body>")
    end = xml.index("<w:sectPr", start)
    templates = {}
    for kind, paragraph in zip(KINDS, xml[start:end].split("</w:p>"), strict=False):
        before, after = paragraph.split(f"<w:t>{SAMPLE.format(kind)}</w:t>")
        templates[kind] = (before, after + "</w:p>")
    if set(templates) != set(KINDS):
        raise RuntimeError("python-docx wrote the sample paragraphs in an unexpected form")
    return xml[:start], templates, xml[end:]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _t(text: str) -> str:
    """A <w:t> as python-docx writes it: space-preserving when the text has spaces at either end."""
    if len(text.strip()) < len(text):
        return f'<w:t xml:space="preserve">{_escape(text)}</w:t>'
    return f"<w:t>{_escape(text)}</w:t>"


def run_content(text: str) -> str:
    """A run's content for `text` as python-docx's `add_run(text)` writes it: a tab is <w:tab/>, a line
    break (CR or LF, each) <w:br/>, the text between them <w:t>; characters XML cannot hold are dropped."""
    text = _NOT_XML.sub("", text)
    if "\t" not in text and "\r" not in text and "\n" not in text:
        return _t(text) if text else ""
    parts = []
    for piece in _RUN_BREAKS.split(text):
        if piece == "\t":
            parts.append("<w:tab/>")
        elif piece in ("\r", "\n"):
            parts.append("<w:br/>")
        elif piece:
            parts.append(_t(piece))
    return "".join(parts)


def _paragraphs(templates: dict[str, tuple[str, str]], blocks: Iterable) -> Iterator[str]:
    for block in blocks:
        before, after = templates[block.kind]
        yield before + run_content(block.text) + after


def _write_document(package: zipfile.ZipFile, info: zipfile.ZipInfo, xml: str, blocks: list) -> None:
    head, templates, tail = _templates(xml)
    with package.open(info, "w") as part:
        part.write(head.encode("utf-8"))
        paragraphs = _paragraphs(templates, blocks)
        while chunk := "".join(islice(paragraphs, CHUNK)):
            part.write(chunk.encode("utf-8"))
        part.write(tail.encode("utf-8"))


def build_docx(section: Section) -> bytes:
    """The section as DOCX bytes (pure: no database, no request)."""
    output = BytesIO()
    with zipfile.ZipFile(BytesIO(_skeleton(section))) as skeleton, \
            zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as package:
        for member in skeleton.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=member.date_time)
            info.compress_type, info.external_attr = member.compress_type, member.external_attr
            if member.filename == DOCUMENT_PART:
                _write_document(package, info, skeleton.read(member).decode("utf-8"), section.blocks)
            else:
                package.writestr(info, skeleton.read(member))
    return output.getvalue()
