"""The rectification section of a work report: preview, copyable text, Markdown and DOCX downloads."""

from __future__ import annotations

from datetime import date
from io import BytesIO

from flask import Blueprint, render_template, request, send_file
from flask_login import current_user, login_required

from tracker import i18n
from tracker.clock import request_clock
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.org.models import Unit
from tracker.pickers.lists import Units
from tracker.pickers.widgets import attach
from tracker.reports import section as wording
from tracker.reports.document import build_docx
from tracker.reports.forms import ReportForm
from tracker.reports.services import rectification_figures
from tracker.viewutils import form_errors

bp = Blueprint("reports", __name__, url_prefix="/reports")

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


UNITS = Units(absolute=True)


def _form() -> ReportForm:
    """The form filled from the query string over the defaults: own unit (else the first of the user's
    tree), 1 January → today; its unit is a picker (tracker.pickers)."""
    today = request_clock().today()
    default_unit = current_user.unit_id
    if default_unit is None:
        top = UNITS.search(current_user, None, limit=1)
        default_unit = top[0].value if top else None
    form = ReportForm(formdata=request.args or None, unit=default_unit, date_from=date(today.year, 1, 1),
                      date_to=today, lang=i18n.select_locale())
    attach(form.unit, UNITS)
    return form


def _report(form: ReportForm):
    """Figures and wording for a valid form, or None with the errors set on the form."""
    if request.args and not form.validate():
        return None
    unit = db.session.get(Unit, form.unit.data) if form.unit.data and 0 < form.unit.data <= MAX_ID else None
    lang = form.lang.data if form.lang.data in wording.LANGUAGES else "zh_CN"
    try:
        figures = rectification_figures(current_user, unit, form.date_from.data, form.date_to.data,
                                        request_clock())
        section = wording.render_section(figures, lang)
    except PermissionDenied as exc:
        form.unit.errors = [*form.unit.errors, exc.message]
        return None
    except ValidationFailed as exc:
        form_errors(form, exc)
        return None
    return figures, section, lang


def _link_args(form: ReportForm) -> dict:
    return {"unit": form.unit.data, "date_from": form.date_from.data.isoformat(),
            "date_to": form.date_to.data.isoformat(), "lang": form.lang.data}


def _error_page(form: ReportForm):
    return render_template("reports/preview.html", form=form, figures=None), 422


@bp.route("/rectification")
@login_required
def preview():
    """The form, the figures and the rendered text with a copy button and download links."""
    form = _form()
    report = _report(form)
    if report is None:
        return _error_page(form)
    figures, section, lang = report
    return render_template("reports/preview.html", form=form, figures=figures, section=section,
                           text=wording.build_text(section), link_args=_link_args(form))


@bp.route("/rectification.md")
@login_required
def download_markdown():
    """The section as a Markdown attachment."""
    form = _form()
    report = _report(form)
    if report is None:
        return _error_page(form)
    figures, section, lang = report
    data = wording.build_markdown(section).encode("utf-8")
    # Werkzeug adds "; charset=utf-8" to every text/* type itself: naming it here gave two.
    return send_file(BytesIO(data), mimetype="text/markdown", as_attachment=True,
                     download_name=wording.filename(figures, lang, "md"))


@bp.route("/rectification.docx")
@login_required
def download_docx():
    """The section as an official-document DOCX attachment."""
    form = _form()
    report = _report(form)
    if report is None:
        return _error_page(form)
    figures, section, lang = report
    return send_file(BytesIO(build_docx(section)), mimetype=DOCX_TYPE, as_attachment=True,
                     download_name=wording.filename(figures, lang, "docx"))

