"""The rectification section of a report (DESIGN §4): JSON figures and items, or MD/DOCX attachments."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import sqlalchemy as sa
from flask import send_file

from tracker import scope
from tracker.api import schemas
from tracker.api.base import actor, aliases, bp, get_or_404, not_found, raise_errors
from tracker.clock import request_clock
from tracker.errors import PermissionDenied
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit
from tracker.reports import section as wording
from tracker.reports.document import build_docx
from tracker.reports.services import rectification_figures

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MD_TYPE = "text/markdown"  # Werkzeug adds "; charset=utf-8" to text/* types


def _default_unit():
    """The caller's own unit; for an administrator (who has none) the first top-level unit."""
    user = actor()
    if user.unit is not None:
        return user.unit
    return db.session.scalar(sa.select(Unit).where(scope.unit_clause(user)).order_by(Unit.path).limit(1))


@bp.get("/reports/rectification")
def rectification_report():
    """Figures and items of the rectification section for a unit subtree and a period."""
    args = schemas.query(schemas.REPORT_PARAMS)
    unit = get_or_404(Unit, args["unit"]) if args["unit"] else _default_unit()
    if unit is None:
        raise_errors({"unit": [_l("Choose a unit.")]})
    today = request_clock().today()
    aliases({"date_from": "from", "date_to": "to"})
    try:
        figures = rectification_figures(actor(), unit, args["from"] or date(today.year, 1, 1),
                                        args["to"] or today, request_clock())
    except PermissionDenied:
        raise not_found() from None  # a unit outside the caller's scope is not there for them
    fmt = args["format"] or "json"
    if fmt == "json":
        return figures.to_dict()
    lang = args["lang"] or actor().language
    section = wording.render_section(figures, lang)
    if fmt == "md":
        data, mimetype = wording.build_markdown(section).encode("utf-8"), MD_TYPE
    else:
        data, mimetype = build_docx(section), DOCX_TYPE
    return send_file(BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=wording.filename(figures, lang, fmt))
