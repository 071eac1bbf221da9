"""Ledger pages: export the three lists, download the template, import a filled ledger."""

from __future__ import annotations

import re
import secrets
import tempfile
from contextlib import closing

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_login import current_user, login_required

from tracker.clock import request_clock
from tracker.enums import Role
from tracker.extensions import db
from tracker.i18n import gettext as _
from tracker.ledger.export import build_ledger_xlsx, build_template_xlsx
from tracker.ledger.forms import ConfirmForm, UploadForm
from tracker.ledger.importer import import_limits, run_import
from tracker.problems.models import Category
from tracker.storage import storage
from tracker.tasks.models import Task
from tracker.tasks.queries import TaskFilters, task_query
from tracker.viewutils import roles_required

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
KEEP_SECONDS = 24 * 3600  # an upload nobody confirmed within a day is removed
SESSION_KEY = "ledger_imports"


def _limits() -> dict:
    return import_limits(current_app.config)


def _spool():
    return tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)


@bp.route("/export.xlsx")
@login_required
def export():
    """The three lists the user may read, narrowed by the rectification list's filters, as .xlsx."""
    filters = TaskFilters.from_args(request.args)
    where = ()
    if filters.active:
        ids = (task_query(current_user, request_clock(), filters, load=False)
               .with_only_columns(Task.id).order_by(None))
        where = (Task.id.in_(ids),)
    stream = _spool()
    build_ledger_xlsx(current_user, request_clock(), stream, lang=current_user.language, task_where=where)
    stream.seek(0)
    name = f"整改台账_{request_clock().today().isoformat()}.xlsx"
    return send_file(stream, mimetype=XLSX, as_attachment=True, download_name=name, max_age=0)


@bp.route("/template.xlsx")
@login_required
def template():
    """An empty ledger with headers, an example row per sheet and instructions."""
    names = db.session.scalars(
        sa.select(Category.name).where(Category.active.is_(True)).order_by(Category.sort_order)).all()
    stream = _spool()
    build_template_xlsx(stream, lang=current_user.language, categories=names)
    stream.seek(0)
    filename = "整改台账导入模板.xlsx" if current_user.language == "zh_CN" else "ledger_template.xlsx"
    return send_file(stream, mimetype=XLSX, as_attachment=True, download_name=filename, max_age=0)


# --- import ----------------------------------------------------------------------------------------


# A checked upload waits in the store (area "imports") for its confirmation, which may reach another
# host; uploads left unconfirmed are removed after KEEP_SECONDS.


def _remove_stale() -> None:
    store = storage()
    for name in list(store.older_than("imports", KEEP_SECONDS)):
        if name.endswith(".xlsx"):
            store.delete("imports", name)


def _upload(token: str) -> bytes:
    """The waiting upload of this session, or 404 (tokens of other sessions do not exist here)."""
    if not TOKEN.match(token) or token not in session.get(SESSION_KEY, []):
        abort(404)
    found = storage().open("imports", f"{token}.xlsx")
    if found is None:
        abort(404)
    with closing(found):
        return found.read()


def _forget(token: str) -> None:
    session[SESSION_KEY] = [t for t in session.get(SESSION_KEY, []) if t != token]
    storage().delete("imports", f"{token}.xlsx")


@bp.route("/import", methods=["GET", "POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_upload():
    """Upload a ledger; it is checked at once and previewed, nothing is written yet."""
    form = UploadForm()
    if not form.validate_on_submit():
        return render_template("ledger/upload.html", form=form, limits=_limits()), 422 if form.errors else 200
    limits = _limits()
    data = form.file.data.read(limits["max_bytes"] + 1)
    report = run_import(data, current_user, request_clock(), lang=current_user.language, **limits)
    db.session.rollback()  # a preview writes nothing
    if report.shape is None:  # the file itself was refused: show why beside the field
        form.file.errors = [str(e.message) for e in report.errors]
        return render_template("ledger/upload.html", form=form, limits=limits), 422
    token = None
    if report.ok:
        _remove_stale()
        token = secrets.token_urlsafe(24)
        storage().put_bytes("imports", f"{token}.xlsx", data, content_type=XLSX)
        session[SESSION_KEY] = [*session.get(SESSION_KEY, [])[-9:], token]
    return render_template("ledger/preview.html", report=report, token=token, form=ConfirmForm(),
                           filename=form.file.data.filename), 200 if report.ok else 422


@bp.route("/import/<token>", methods=["POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_confirm(token: str):
    """Create what the preview showed; the file is checked again, since the database may have moved on."""
    data = _upload(token)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    report = run_import(data, current_user, request_clock(), lang=current_user.language,
                        **_limits())
    if not report.ok:
        db.session.rollback()
        return render_template("ledger/preview.html", report=report, token=None, form=ConfirmForm(),
                               filename=None), 422
    db.session.commit()
    _forget(token)
    numbers = [p.created_number for p in report.problems]
    flash(_("Imported. Problems: %(p)s, measures: %(m)s.", p=len(numbers), m=report.measure_count), "success")
    session["ledger_imported"] = numbers[:200]
    return redirect(url_for("ledger.import_done"))


@bp.route("/import/<token>/discard", methods=["POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_discard(token: str):
    """Throw the waiting upload away."""
    _upload(token)
    _forget(token)
    flash(_("The uploaded ledger was discarded; nothing was imported."), "info")
    return redirect(url_for("ledger.import_upload"))


@bp.route("/import/done")
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_done():
    """After an import: what was created and where to find it."""
    return render_template("ledger/done.html", numbers=session.get("ledger_imported", []))
