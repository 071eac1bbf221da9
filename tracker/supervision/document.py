"""A notice as a DOCX in official-document layout, rendered with docxtpl from a .docx template with
placeholders: the organisation's own (instance/notice_template.docx, uploaded by an admin) when
present, else the default shipped beside this module (built by template_source.py)."""

from __future__ import annotations

from contextlib import closing
from io import BytesIO
from pathlib import Path

from docxtpl import DocxTemplate
from flask import current_app
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tracker.errors import ValidationFailed
from tracker.i18n import lazy_gettext as _l
from tracker.storage import storage
from tracker.supervision.models import Notice
from tracker.supervision.template_source import DEFAULT_TEMPLATE

CUSTOM_NAME = "notice_template.docx"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
STATE_ZH = {"assigned": "已交办", "in_progress": "整改中", "submitted": "待销号", "closed": "已销号",
            "cancelled": "已撤销"}
COLOUR_ZH = {"blue": "蓝色", "yellow": "黄色", "red": "红色"}


def zh_date(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else "—"


def custom_template_path() -> Path:
    """Where the local store keeps the organisation's template (EVIDENCE_STORAGE=local)."""
    return Path(current_app.instance_path) / CUSTOM_NAME


def has_custom_template() -> bool:
    return storage().stat("templates", CUSTOM_NAME) is not None


def template_source() -> Path | BytesIO:
    """The organisation's template from the store (every host sees the same), else the default."""
    found = storage().open("templates", CUSTOM_NAME)
    if found is None:
        return DEFAULT_TEMPLATE
    with closing(found):
        return BytesIO(found.read())


def context(notice: Notice) -> dict:
    """Every placeholder a template may use (documented on the admin's template page)."""
    measures = [{
        "index": i, "problem_number": item.task.problem.number, "measure": item.task.measure,
        "unit": item.task.unit.name, "owner": item.task.owner.name, "deadline": zh_date(item.deadline),
        "state": STATE_ZH.get(item.task.state.value, item.task.state.value),
        "colour": COLOUR_ZH[item.colour.value],
    } for i, item in enumerate(notice.items, start=1)]
    return {
        "title": notice.kind.title, "kind": notice.kind.value, "number_text": notice.number_text,
        "year": notice.year, "number": notice.number, "issuing_unit": notice.issuing_unit.name,
        "addressee": notice.addressee_unit.name, "body": notice.body,
        "paragraphs": [p.strip() for p in notice.body.splitlines() if p.strip()],
        "reply_due_on": zh_date(notice.reply_due_on), "issued_on": zh_date(notice.issued_on),
        "colour": COLOUR_ZH[notice.colour.value], "issuer": notice.issued_by.name, "measures": measures,
    }


def render(template: Path | BytesIO, values: dict) -> bytes:
    """Fill a template (sandboxed: admins write templates; values are XML-escaped)."""
    document = DocxTemplate(template)
    document.render(values, jinja_env=SandboxedEnvironment(), autoescape=True)
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def build_docx(notice: Notice) -> bytes:
    """The notice as DOCX bytes."""
    return render(template_source(), context(notice))


def filename(notice: Notice) -> str:
    return f"{notice.issuing_unit.name}{notice.kind.title}{notice.number_text}.docx"


SAMPLE = {
    "title": "督办单", "kind": "supervision", "number_text": "〔2026〕第1期", "year": 2026, "number": 1,
    "issuing_unit": "某局党委", "addressee": "第一党支部", "body": "正文", "paragraphs": ["正文"],
    "reply_due_on": "2026年6月20日", "issued_on": "2026年6月15日", "colour": "红色", "issuer": "张三",
    "measures": [{"index": 1, "problem_number": "2026-001", "measure": "整改措施", "unit": "第一党支部",
                  "owner": "李四", "deadline": "2026年6月1日", "state": "整改中", "colour": "红色"}],
}


def save_custom_template(data: bytes) -> None:
    """Check an uploaded template (a .docx whose placeholders render) and keep it under instance/."""
    if not data:
        raise ValidationFailed(_l("Choose a .docx file."), {"template": [_l("Empty file.")]})
    if len(data) > MAX_TEMPLATE_BYTES:
        raise ValidationFailed(_l("The template is larger than 5 MB."), {"template": [_l("File too large.")]})
    try:
        render(BytesIO(data), SAMPLE)
    except TemplateError as exc:
        raise ValidationFailed(_l("The template's placeholders are wrong: %(error)s", error=str(exc)),
                               {"template": [_l("Placeholders do not render.")]}) from exc
    except Exception as exc:  # not a zip, not a Word document …
        raise ValidationFailed(_l("This is not a Word (.docx) document."),
                               {"template": [_l("Not a .docx file.")]}) from exc
    storage().put_bytes("templates", CUSTOM_NAME, data, content_type=DOCX_TYPE)


def remove_custom_template() -> None:
    storage().delete("templates", CUSTOM_NAME)
