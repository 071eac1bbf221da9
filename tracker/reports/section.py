"""The wording of the rectification section: Jinja templates an admin can override, rendered to text.

A template renders Markdown-like lines: "# " the title, "## " a 一、 heading, "### " a （一） heading,
every other non-empty line one paragraph. `Section` holds those blocks; Markdown, plain text and
DOCX (tracker.reports.document) are built from it.

What a template prints with {{ … }} (unit names, problems, measures, results, names, labels) is
data, mostly users' text; the rest is the template's own wording. Every printed value is marked
while rendering, so each block keeps two forms: its plain text (text, DOCX, web preview) and its
Markdown, where only the values are escaped: a Markdown viewer that renders HTML shows them as
written and cannot be scripted through them, and ordinary Chinese text comes out unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import islice
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment

from tracker.errors import ValidationFailed
from tracker.i18n import lazy_gettext as _l
from tracker.reports.services import BreakdownRow, ClosedItem, OpenItem, RectificationFigures

LANGUAGES = ("zh_CN", "en")
TEMPLATE_NAMES = {"zh_CN": "section_zh.md.j2", "en": "section_en.md.j2"}
OVERRIDE_FOLDER = "report_templates"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
MARKERS = (("### ", "h2"), ("## ", "h1"), ("# ", "title"))


# Private-use characters around every printed value while rendering (removed from values first).
OPEN, CLOSE = "\ue000", "\ue001"
_VALUE = re.compile(f"{OPEN}([^{OPEN}{CLOSE}]*){CLOSE}")


def _unmarked(text: str) -> str:
    return text.replace(OPEN, "").replace(CLOSE, "")


@dataclass(frozen=True, slots=True)
class Block:
    kind: str  # "title", "h1" (一、), "h2" (（一）) or "p"
    text: str
    markdown: str | None = None  # the text as Markdown, values escaped; None: escape all of it


@dataclass
class Section:
    """The rendered section: a title and its blocks in order, in one language."""

    title: str
    blocks: list[Block]
    lang: str


# --- formatting helpers offered to templates ------------------------------------------------------


def zh_date(value: date | None) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else ""


def en_date(value: date | None) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}" if value else ""


def oneline(value) -> str:
    """User text on one line: a newline would start a new paragraph (or a heading) in the output."""
    return re.sub(r"\s+", " ", str(value or "")).strip()


def sentence(value, stop: str = "。") -> str:
    """Close a phrase with a full stop unless it already ends with punctuation."""
    text = oneline(value)
    return text if not text or text[-1] in "。！？；.!?;" else text + stop


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def period_text(figures: RectificationFigures, lang: str) -> str:
    """"2026年1月1日至6月30日" (the year once when it does not change) or "1 January to 30 June 2026"."""
    start, end = figures.date_from, figures.date_to
    if lang == "en":
        return f"{en_date(start)} to {en_date(end)}"
    if start.year == end.year:
        return f"{zh_date(start)}至{end.month}月{end.day}日"
    return f"{zh_date(start)}至{zh_date(end)}"


# --- Markdown escaping -----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>&]")
_ENTITY_LIKE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]])")
# What opens a block when it starts a line: heading, list, quote, rule, setext line, table, fence.
_BLOCK_START = re.compile(r"^(?:[#+=~|-]|\d{1,9}(?=[.)]))")


def markdown_escape(text: str) -> str:
    """Text that Markdown shows as written: no HTML (< > and entities), no links or images ([ ]),
    no emphasis or code (* _ `), no escape of our escapes (\\)."""
    if not _MD_SPECIAL.search(text):
        return text
    text = _ENTITY_LIKE.sub("&amp;", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return _MD_PUNCTUATION.sub(r"\\\1", text)


def _escape_block_start(markdown: str) -> str:
    """A value at the start of a paragraph must not open a heading, a list or a quote."""
    found = _BLOCK_START.match(markdown)
    if found is None:
        return markdown
    if found.group().isdigit():  # "2026. …" would be an ordered list: escape the "."
        return found.group() + "\\" + markdown[found.end():]
    return "\\" + markdown


def _mark(value):
    """Jinja's finalize: every printed value between the marks; numbers cannot carry markup."""
    if isinstance(value, int | float | Decimal):
        return value
    text = value if isinstance(value, str) else str(value)
    if OPEN in text or CLOSE in text:
        text = _unmarked(text)
    return OPEN + text + CLOSE if text else text


# --- rendering --------------------------------------------------------------------------------


def override_folder() -> Path:
    """instance/report_templates: a file there with a default template's name replaces it."""
    return Path(current_app.instance_path) / OVERRIDE_FOLDER


class ReportEnvironment(SandboxedEnvironment):
    """The sandbox with a short way to the report's own data objects' public attributes.

    For objects that are not functions, methods, types, code, frames, generators or strings, the sandbox
    allows exactly the attributes that do not start with "_" (`is_internal_attribute`); it comes to the
    same answer here without asking, which matters when a section of 10k items reads 400k of them.
    """

    PLAIN_DATA = (RectificationFigures, ClosedItem, OpenItem, BreakdownRow, LoopContext)

    def getattr(self, obj, attribute: str):
        if type(obj) in self.PLAIN_DATA and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass  # the sandbox's own way: an item, else undefined
        return super().getattr(obj, attribute)


def environment(override_dir: Path | None = None) -> SandboxedEnvironment:
    """Override folder first, then the shipped templates; sandboxed, since admins write templates."""
    defaults = Path(current_app.template_folder) / "reports"
    env = ReportEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(override_dir or override_folder())),
                             FileSystemLoader(str(defaults))]),
        autoescape=False,  # plain text / Markdown, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        finalize=_mark,
    )
    env.filters.update(zh_date=zh_date, en_date=en_date, oneline=oneline, sentence=sentence)
    env.globals.update(plural=plural)
    return env


def render_text(figures: RectificationFigures, lang: str = "zh_CN", override_dir: Path | None = None) -> str:
    """The template's raw output for `figures` in `lang` (labels such as source kinds translated too)."""
    return _unmarked(_render(figures, lang, override_dir, "".join))


def _render(figures: RectificationFigures, lang: str, override_dir: Path | None, consume):
    """`consume(pieces)`: the template's output in pieces as it renders, every printed value between OPEN
    and CLOSE. Pieces, not one string: a section of 10k items renders a million of them."""
    lang = lang if lang in LANGUAGES else "zh_CN"
    name = TEMPLATE_NAMES[lang]
    try:
        template = environment(override_dir).get_template(name)
        with force_locale(lang):
            return consume(template.generate(f=figures, unit=figures.unit, period=period_text(figures, lang),
                                             lang=lang))
    except TemplateError as exc:
        # Most likely an administrator's override: say which file and what is wrong, not a 500.
        raise ValidationFailed(_l("The report template %(name)s has an error: %(error)s",
                                  name=name, error=str(exc))) from exc


def _lines(pieces: Iterable[str], batch: int = 10_000) -> Iterator[str]:
    """The lines of the text given in pieces, exactly as `str.splitlines` cuts the whole text."""
    pieces = iter(pieces)
    pending = ""
    while chunk := list(islice(pieces, batch)):
        lines = (pending + "".join(chunk)).splitlines(keepends=True)
        if not lines:
            continue
        # The last line may go on in the next pieces; a CR may be the first half of a CRLF.
        last = lines[-1]
        unfinished = last.endswith("\r") or last.splitlines()[0] == last
        pending = lines.pop() if unfinished else ""
        for line in lines:
            yield line.splitlines()[0]
    if pending:
        yield pending.splitlines()[0]


def _marked_lines(lines: Iterable[str]) -> Iterator[str]:
    """The marked lines; a value that spans lines is closed at a line's end and reopened."""
    inside = False
    for line in lines:
        if inside:
            line = OPEN + line
        last = max(line.rfind(OPEN), line.rfind(CLOSE))
        inside = last >= 0 and line[last] == OPEN
        yield line + CLOSE if inside else line


def _strip(line: str) -> str:
    """The line without the whitespace around it, as str.strip, also inside a value at either end."""
    line = line.strip()
    if line.startswith(OPEN):
        rest = line[1:].lstrip()
        if rest.startswith(CLOSE):  # a blank value first
            return _strip(rest[1:])
        line = OPEN + rest
    if line.endswith(CLOSE):
        rest = line[:-1].rstrip()
        if rest.endswith(OPEN):  # a blank value last
            return _strip(rest[:-1])
        line = rest + CLOSE
    return line


def _block(line: str) -> Block | None:
    """One marked line as a block (None when blank); a line marker counts only when the template
    itself wrote it, so a value can never turn into a heading."""
    line = _strip(line)
    if not line:
        return None
    kind = "p"
    for marker, name in MARKERS:
        if line.startswith(marker):
            kind, line = name, _strip(line[len(marker):])
            break
    text = _unmarked(line)
    if not _MD_SPECIAL.search(line):  # nothing to escape: most lines of ordinary Chinese text
        markdown = text
    else:
        markdown = _VALUE.sub(lambda found: markdown_escape(found[1]), line)
    if kind == "p" and line.startswith(OPEN):
        markdown = _escape_block_start(markdown)
    return Block(kind, text, markdown)


def parse(text: str, lang: str) -> Section:
    """Split rendered text (printed values marked or not) into blocks by their line markers."""
    return _parse_lines(text.splitlines(), lang)


def _parse_lines(lines: Iterable[str], lang: str) -> Section:
    title, blocks = "", []
    for line in _marked_lines(lines):
        block = _block(line)
        if block is None:
            continue
        if block.kind == "title" and not title:
            title = block.text
        blocks.append(block)
    return Section(title=title, blocks=blocks, lang=lang)


def render_section(figures: RectificationFigures, lang: str = "zh_CN",
                   override_dir: Path | None = None) -> Section:
    """Render the section's wording for `figures`."""
    lang = lang if lang in LANGUAGES else "zh_CN"
    return _render(figures, lang, override_dir, lambda pieces: _parse_lines(_lines(pieces), lang))


# --- outputs ------------------------------------------------------------------------------------


def build_markdown(section: Section) -> str:
    """Markdown: headings marked, one blank line between blocks, printed values escaped."""
    prefix = {"title": "# ", "h1": "## ", "h2": "### ", "p": ""}

    def markdown(b: Block) -> str:
        if b.markdown is not None:
            return b.markdown
        return markdown_escape(b.text) if b.kind != "p" else _escape_block_start(markdown_escape(b.text))

    return "\n\n".join(prefix[b.kind] + markdown(b) for b in section.blocks) + "\n"


def build_text(section: Section) -> str:
    """Plain text to paste into a report: one paragraph a line, as the reports themselves are written."""
    return "\n".join(b.text for b in section.blocks) + "\n"


def filename(figures: RectificationFigures, lang: str, ext: str) -> str:
    """整改情况_单位_2026-01-01_2026-06-30.docx (English: Rectification_…)."""
    name = re.sub(r'[\\/:*?"<>|\s]+', "_", figures.unit.name).strip("_") or figures.unit.code
    stem = "Rectification" if lang == "en" else "整改情况"
    return f"{stem}_{name}_{figures.date_from.isoformat()}_{figures.date_to.isoformat()}.{ext}"
