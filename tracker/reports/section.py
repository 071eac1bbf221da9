"""The wording of the rectification section: Jinja templates an admin can override, rendered to text.

A template renders Markdown-like lines: "# " the title, "## " a 一、 heading, "### " a （一） heading,
every other non-empty line one paragraph. `Section` holds those blocks; Markdown, plain text and
DOCX (tracker.reports.document) are built from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tracker.errors import ValidationFailed
from tracker.i18n import lazy_gettext as _l
from tracker.reports.services import RectificationFigures

LANGUAGES = ("zh_CN", "en")
TEMPLATE_NAMES = {"zh_CN": "section_zh.md.j2", "en": "section_en.md.j2"}
OVERRIDE_FOLDER = "report_templates"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
MARKERS = (("### ", "h2"), ("## ", "h1"), ("# ", "title"))


@dataclass(frozen=True)
class Block:
    kind: str  # "title", "h1" (一、), "h2" (（一）) or "p"
    text: str


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


# --- rendering --------------------------------------------------------------------------------


def override_folder() -> Path:
    """instance/report_templates: a file there with a default template's name replaces it."""
    return Path(current_app.instance_path) / OVERRIDE_FOLDER


def environment(override_dir: Path | None = None) -> SandboxedEnvironment:
    """Override folder first, then the shipped templates; sandboxed, since admins write templates."""
    defaults = Path(current_app.template_folder) / "reports"
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(override_dir or override_folder())),
                             FileSystemLoader(str(defaults))]),
        autoescape=False,  # plain text / Markdown, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.filters.update(zh_date=zh_date, en_date=en_date, oneline=oneline, sentence=sentence)
    env.globals.update(plural=plural)
    return env


def render_text(figures: RectificationFigures, lang: str = "zh_CN", override_dir: Path | None = None) -> str:
    """The template's raw output for `figures` in `lang` (labels such as source kinds translated too)."""
    lang = lang if lang in LANGUAGES else "zh_CN"
    name = TEMPLATE_NAMES[lang]
    try:
        template = environment(override_dir).get_template(name)
        with force_locale(lang):
            return template.render(f=figures, unit=figures.unit, period=period_text(figures, lang), lang=lang)
    except TemplateError as exc:
        # Most likely an administrator's override: say which file and what is wrong, not a 500.
        raise ValidationFailed(_l("The report template %(name)s has an error: %(error)s",
                                  name=name, error=str(exc))) from exc


def parse(text: str, lang: str) -> Section:
    """Split rendered text into blocks by their line markers."""
    title, blocks = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        kind = "p"
        for marker, name in MARKERS:
            if line.startswith(marker):
                kind, line = name, line[len(marker):].strip()
                break
        if kind == "title" and not title:
            title = line
        blocks.append(Block(kind, line))
    return Section(title=title, blocks=blocks, lang=lang)


def render_section(figures: RectificationFigures, lang: str = "zh_CN",
                   override_dir: Path | None = None) -> Section:
    """Render the section's wording for `figures`."""
    lang = lang if lang in LANGUAGES else "zh_CN"
    return parse(render_text(figures, lang, override_dir), lang)


# --- outputs ------------------------------------------------------------------------------------


def build_markdown(section: Section) -> str:
    """Markdown: headings marked, one blank line between blocks."""
    prefix = {"title": "# ", "h1": "## ", "h2": "### ", "p": ""}
    return "\n\n".join(prefix[b.kind] + b.text for b in section.blocks) + "\n"


def build_text(section: Section) -> str:
    """Plain text to paste into a report: one paragraph a line, as the reports themselves are written."""
    return "\n".join(b.text for b in section.blocks) + "\n"


def filename(figures: RectificationFigures, lang: str, ext: str) -> str:
    """整改情况_单位_2026-01-01_2026-06-30.docx (English: Rectification_…)."""
    name = re.sub(r'[\\/:*?"<>|\s]+', "_", figures.unit.name).strip("_") or figures.unit.code
    stem = "Rectification" if lang == "en" else "整改情况"
    return f"{stem}_{name}_{figures.date_from.isoformat()}_{figures.date_to.isoformat()}.{ext}"
