"""Notices' pages: the list, "my notices", the proposals, the issue form, the notice page with its
actions, the DOCX and reply files, and the admin's DOCX template."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from tracker.clock import request_clock
from tracker.enums import Role
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.i18n import gettext as _
from tracker.pickers import filters as filter_pickers
from tracker.supervision import document, queries, rules, services
from tracker.supervision.forms import AcknowledgeForm, DecideForm, IssueForm, ReplyForm, TemplateForm
from tracker.supervision.models import NoticeColour, NoticeFile, NoticeKind, NoticeState
from tracker.tasks import evidence
from tracker.viewutils import form_errors, page_args, roles_required

bp = Blueprint("notices", __name__)


def _load(notice_id: int):
    notice = services.get_for(current_user, notice_id)
    if notice is None:
        abort(404)
    return notice


def _list(template: str, mine: bool):
    filters = queries.NoticeFilters.from_args(request.args)
    sort = queries.parse_sort(request.args.get("sort"))
    pagination = queries.page(current_user, request_clock(), filters, sort, mine=mine, **page_args())
    counts = queries.measure_counts([n.id for n in pagination.items])
    return render_template(template, pagination=pagination, filters=filters, sort=sort, counts=counts,
                           mine=mine, units=filter_pickers.units("unit", filters.unit_id),
                           today=request_clock().today(), kinds=NoticeKind, colours=NoticeColour,
                           states=NoticeState)


@bp.route("/notices")
@login_required
def notice_list():
    """Every notice the user may read: filter by kind, colour, state, unit, period, overdue reply."""
    return _list("notices/list.html", mine=False)


@bp.route("/notices/mine")
@login_required
def my_notices():
    """The notices sent to me (as responsible person, manager or in copy)."""
    return _list("notices/list.html", mine=True)


@bp.route("/notices/proposals")
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def proposals():
    """The system's proposal: overdue measures for a 督办单, due-soon and stalled ones for a 提醒函."""
    now = request_clock()
    return render_template("notices/proposals.html", proposals=services.propose(current_user, now),
                           today=now.today())


def _task_ids() -> list[str]:
    return request.values.getlist("task")


@bp.route("/notices/new", methods=["GET", "POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def issue():
    """The issue form: the chosen measures, the reply deadline and the body (prefilled), a confirmation."""
    now = request_clock()
    kind = queries._enum(NoticeKind, request.values.get("kind")) or NoticeKind.REMINDER
    if request.method == "GET":
        form = IssueForm(formdata=None, data={"kind": kind.value,
                                              "reply_due_on": services.default_reply_due(now)})
    else:
        form = IssueForm()
    try:
        listed = services.load_tasks(current_user, _task_ids())
    except ValidationFailed as exc:
        flash(exc.message, "warning")
        overdue = {"overdue": 1} if kind == NoticeKind.SUPERVISION else {}
        return redirect(url_for("tasks.task_list", **overdue))
    colours = services.colours(listed, now)
    if request.method == "GET":
        addressee = services.addressee_of(listed)
        issuing = rules.issuing_unit_for(current_user, addressee)
        form.body.data = services.default_body(kind, listed, issuing, form.reply_due_on.data, now)
    elif form.validate_on_submit():
        try:
            notice = services.issue(current_user, now, kind=NoticeKind(form.kind.data),
                                    task_ids=[t.id for t in listed], reply_due_on=form.reply_due_on.data,
                                    body=form.body.data)
        except ValidationFailed as exc:
            db.session.rollback()
            form_errors(form, exc, {"tasks": "kind"})
        else:
            db.session.commit()
            flash(_("%(notice)s is issued and sent to %(n)s recipients.", notice=str(notice),
                    n=len(notice.recipients)), "success")
            return redirect(url_for("notices.notice_detail", notice_id=notice.id))
    status = 422 if request.method == "POST" else 200
    return render_template("notices/issue.html", form=form, tasks=listed, colours=colours,
                           colour=services.notice_colour(colours), today=now.today()), status


def _render(notice, forms=None, status=200):
    actions = rules.available(notice, current_user)
    blank = {"acknowledge": AcknowledgeForm(formdata=None, prefix="acknowledge"),
             "reply": ReplyForm(formdata=None, prefix="reply"),
             "decide": DecideForm(formdata=None, prefix="decide")}
    blank.update(forms or {})
    return render_template("notices/detail.html", notice=notice, actions=actions, forms=blank,
                           today=request_clock().today(), me=rules.recipient(notice, current_user)), status


@bp.route("/notices/<int:notice_id>")
@login_required
def notice_detail(notice_id: int):
    """A notice: its measures, recipients with their 签收, replies with files, and the user's actions."""
    return _render(_load(notice_id))


def _act(notice, key: str, form, call, done: str):
    if not form.validate_on_submit():
        return _render(notice, {key: form}, 422)
    try:
        call(form)
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        if "files" in exc.fields:
            flash(exc.message, "danger")
        return _render(notice, {key: form}, 422)
    except (PermissionDenied, InvalidTransition) as exc:
        db.session.rollback()
        flash(exc.message, "warning")
        return redirect(url_for("notices.notice_detail", notice_id=notice.id))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("notices.notice_detail", notice_id=notice.id))


@bp.route("/notices/<int:notice_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(notice_id: int):
    """签收 of a notice by a recipient."""
    notice = _load(notice_id)
    return _act(notice, "acknowledge", AcknowledgeForm(prefix="acknowledge"),
                lambda f: services.acknowledge(notice, current_user, request_clock()),
                _("You signed for the notice."))


@bp.route("/notices/<int:notice_id>/reply", methods=["POST"])
@login_required
def reply(notice_id: int):
    """An addressee's reply with files."""
    notice = _load(notice_id)

    def call(f):
        uploads = [evidence.Upload(x.filename, x.stream, x.mimetype)
                   for x in (f.files.data or []) if x and getattr(x, "filename", "")]
        services.reply(notice, current_user, request_clock(), body=f.body.data, uploads=uploads)

    return _act(notice, "reply", ReplyForm(prefix="reply"), call, _("Your reply is sent."))


@bp.route("/notices/<int:notice_id>/decide", methods=["POST"])
@login_required
def decide(notice_id: int):
    """The issuer accepts the reply (closed) or sends it back with a reason."""
    notice = _load(notice_id)
    form = DecideForm(prefix="decide")
    accept = bool(form.accept.data)
    done = _("The reply is accepted; the notice is closed.") if accept else _("The reply is sent back.")
    return _act(notice, "decide", form, lambda f: services.decide(
        notice, current_user, request_clock(), accept=accept, reason=f.reason.data), done)


@bp.route("/notices/<int:notice_id>.docx")
@login_required
def notice_docx(notice_id: int):
    """The notice as a DOCX in official-document layout."""
    notice = _load(notice_id)
    name = document.filename(notice)
    return Response(document.build_docx(notice), headers={
        "Content-Disposition": evidence.content_disposition(name)},
        mimetype="application/vnd.openxmlformats-officedocument.wordprocessingml.document")


@bp.route("/notice-files/<int:file_id>")
@login_required
def file_download(file_id: int):
    """A reply's file, for whoever may read its notice; otherwise 404."""
    item = db.session.get(NoticeFile, file_id)
    if item is None:
        abort(404)
    _load(item.notice_id)
    return evidence.send_stored(item.stored_name, item.filename, item.content_type, item.sha256)


@bp.route("/admin/notice-template", methods=["GET", "POST"])
@login_required
@roles_required(Role.ADMIN)
def template():
    """An admin replaces the notices' DOCX template with the organisation's own, or restores the default."""
    form = TemplateForm()
    status = 200
    if form.validate_on_submit():
        if form.remove.data:
            document.remove_custom_template()
            flash(_("The default template is used again."), "success")
            return redirect(url_for("notices.template"))
        upload = form.template.data
        try:
            document.save_custom_template(upload.read() if upload else b"")
        except ValidationFailed as exc:
            form_errors(form, exc)
            status = 422
        else:
            flash(_("The template is saved; new downloads use it."), "success")
            return redirect(url_for("notices.template"))
    custom = document.has_custom_template()
    return render_template("notices/template.html", form=form, custom=custom,
                           placeholders=sorted(document.SAMPLE),
                           measure_fields=sorted(document.SAMPLE["measures"][0])), status


@bp.route("/admin/notice-template/default.docx")
@login_required
@roles_required(Role.ADMIN)
def default_template():
    """The shipped template, to start the organisation's own from."""
    return send_file(document.DEFAULT_TEMPLATE, as_attachment=True, download_name="notice_template.docx",
                     max_age=0)
