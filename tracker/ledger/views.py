"""Ledger pages: export the three lists, download the template, import a filled ledger."""

from __future__ import annotations

import secrets
import tempfile

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from tracker.clock import request_clock
from tracker.enums import Role
from tracker.errors import ServiceError
from tracker.extensions import MAX_ID, db
from tracker.i18n import gettext as _
from tracker.ledger import jobs, worker
from tracker.ledger.export import build_ledger_xlsx, build_template_xlsx
from tracker.ledger.forms import ConfirmForm, UploadForm
from tracker.ledger.importer import import_limits
from tracker.ledger.models import ImportJob, JobKind, JobState
from tracker.ledger.package import FileRejected, check_package
from tracker.ledger.preview import Preview
from tracker.problems.models import Category
from tracker.storage import storage
from tracker.tasks.models import Task
from tracker.tasks.queries import TaskFilters, task_query
from tracker.viewutils import roles_required

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KEEP_SECONDS = 24 * 3600  # an upload nobody confirmed within a day is removed


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


# The upload waits in the store (area "imports"): its check, and then its import, run as jobs off the
# request (tracker.ledger.jobs), possibly on another host; uploads never confirmed are removed after
# KEEP_SECONDS. The pages poll the job (JSON) and show its progress, then its outcome.


def _remove_stale() -> None:
    store = storage()
    for name in list(store.older_than(jobs.AREA, KEEP_SECONDS)):
        if name.endswith(".xlsx"):
            store.delete(jobs.AREA, name)


def _job_or_404(job_id: int) -> ImportJob:
    """One of the current user's jobs, or 404 (other people's jobs do not exist here)."""
    job = jobs.job_of(current_user, job_id) if 0 < job_id <= MAX_ID else None
    if job is None:
        abort(404)
    return job


def _keep_going(job: ImportJob) -> None:
    """A job waiting too long (its process gone, its worker stopped): sweep, and run it here."""
    if jobs.is_stale(job):
        if job.state == JobState.RUNNING:
            jobs.sweep()
        worker.wake(current_app._get_current_object())


def _upload_page(form, status: int = 200):
    return render_template("ledger/upload.html", form=form, limits=_limits()), status


@bp.route("/import", methods=["GET", "POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_upload():
    """Upload a ledger; its check runs in the background and the preview follows; nothing is written yet."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _upload_page(form, 422 if form.errors else 200)
    limits = _limits()
    data = form.file.data.read(limits["max_bytes"] + 1)
    try:  # what is not a workbook at all is refused at once, beside the field
        check_package(data, limits["max_bytes"], limits["max_cells"])
    except FileRejected as exc:
        form.file.errors = [str(exc.message)]
        return _upload_page(form, 422)
    _remove_stale()
    stored_name = f"{secrets.token_urlsafe(24)}.xlsx"
    storage().put_bytes(jobs.AREA, stored_name, data, content_type=XLSX)
    try:
        job = jobs.start_check(current_user, stored_name=stored_name, filename=form.file.data.filename or "",
                               language=current_user.language)
    except ServiceError as exc:
        db.session.rollback()
        storage().delete(jobs.AREA, stored_name)
        form.file.errors = [str(exc.message)]
        return _upload_page(form, 422)
    db.session.commit()
    worker.wake(current_app._get_current_object())
    return redirect(url_for("ledger.import_job", job_id=job.id), 303)


@bp.route("/import/<int:job_id>")
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_job(job_id: int):
    """A check or an import: its progress while it runs, then the preview, the outcome or what failed."""
    job = _job_or_404(job_id)
    _keep_going(job)
    if not job.finished:
        return render_template("ledger/job.html", job=job)
    if job.kind == JobKind.CHECK:
        follow = jobs.import_of(job)
        if follow is not None:
            return redirect(url_for("ledger.import_job", job_id=follow.id))
    if job.report is None:
        return render_template("ledger/failed.html", job=job)
    if job.kind == JobKind.IMPORT and job.state == JobState.DONE:
        return render_template("ledger/done.html", job=job, result=job.report)
    report = Preview.from_json(job.report)
    if report.shape is None:  # the file itself was refused: say why beside the field, as at the upload
        form = UploadForm()
        form.file.errors = [e.message for e in report.errors]
        return _upload_page(form)
    confirm = job.kind == JobKind.CHECK and report.ok
    return render_template("ledger/preview.html", report=report, job=job, confirm=confirm, form=ConfirmForm(),
                           filename=job.filename)


@bp.route("/import/jobs/<int:job_id>")
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_job_status(job_id: int):
    """How far a job got (polled by its page): state, phase, rows done of total."""
    job = _job_or_404(job_id)
    _keep_going(job)
    label = job.phase.label if job.phase is not None and job.state == JobState.RUNNING else job.state.label
    return jsonify(id=job.id, kind=job.kind.value, state=job.state.value,
                   phase=job.phase.value if job.phase else None, label=str(label), done=job.done_rows,
                   total=job.total, percent=job.percent, finished=job.finished,
                   url=url_for("ledger.import_job", job_id=job.id))


@bp.route("/import/<int:job_id>/confirm", methods=["POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_confirm(job_id: int):
    """Import what the preview showed; the file is checked again, since the database may have moved on."""
    check = _job_or_404(job_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        job = jobs.start_import(check, current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
        return redirect(url_for("ledger.import_job", job_id=check.id))
    db.session.commit()
    worker.wake(current_app._get_current_object())
    return redirect(url_for("ledger.import_job", job_id=job.id), 303)


@bp.route("/import/<int:job_id>/discard", methods=["POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def import_discard(job_id: int):
    """Throw the checked upload away."""
    check = _job_or_404(job_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if check.kind != JobKind.CHECK or not check.finished:
        abort(404)
    stored_name = jobs.discard(check, current_user)
    db.session.commit()
    if stored_name:
        storage().delete(jobs.AREA, stored_name)
    flash(_("The uploaded ledger was discarded; nothing was imported."), "info")
    return redirect(url_for("ledger.import_upload"))
