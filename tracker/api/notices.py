"""Notices (提醒函 / 督办单, DESIGN §4): list, issue, read (JSON or DOCX), 签收, reply."""

from __future__ import annotations

from io import BytesIO

from flask import request, send_file

from tracker.api import schemas
from tracker.api.base import actor, aliases, bp, created, not_found, paged
from tracker.clock import request_clock
from tracker.extensions import db
from tracker.supervision import document, queries, rules, services
from tracker.supervision.models import Notice, NoticeKind

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _notice_or_404(notice_id: int) -> Notice:
    notice = services.get_for(actor(), notice_id)
    if notice is None:
        raise not_found()
    return notice


def _body(notice: Notice) -> dict:
    return schemas.notice_json(notice, request_clock().today())


@bp.get("/notices")
def list_notices():
    """Notices the caller may read (or, `mine=true`, those sent to them), filtered and paged."""
    args = schemas.query({**schemas.NOTICE_FILTERS, **schemas.PAGING})
    filters = queries.NoticeFilters.from_args(request.args)
    stmt = queries.statement(actor(), request_clock(), filters, mine=bool(args["mine"]))
    today = request_clock().today()
    return paged(stmt, stmt, lambda n: schemas.notice_json(n, today), *services.DETAIL_OPTIONS)


@bp.post("/notices")
def issue_notice():
    """Issue a notice about measures of the caller's subtree; the recipients are sent it."""
    data = schemas.json_body(schemas.NOTICE_CREATE)
    now = request_clock()
    kind = NoticeKind(data["kind"])
    reply_due_on = data.get("reply_due_on") or services.default_reply_due(now)
    body = data.get("body")
    if not (body or "").strip() and rules.may_issue(actor()):  # the kind's body template
        tasks = services.load_tasks(actor(), data["task_ids"], "task_ids")
        issuing = rules.issuing_unit_for(actor(), services.addressee_of(tasks))
        body = services.default_body(kind, tasks, issuing, reply_due_on, now)
    aliases({"tasks": "task_ids"})
    notice = services.issue(actor(), now, kind=kind, task_ids=data["task_ids"], reply_due_on=reply_due_on,
                            body=body)
    db.session.commit()
    return created(_body(services.get_for(actor(), notice.id)))


@bp.get("/notices/<int:notice_id>")
def get_notice(notice_id: int):
    """One notice; `format=docx` for its document."""
    args = schemas.query(schemas.NOTICE_GET)
    notice = _notice_or_404(notice_id)
    if (args["format"] or "json") == "docx":
        return send_file(BytesIO(document.build_docx(notice)), mimetype=DOCX_TYPE, as_attachment=True,
                         download_name=document.filename(notice))
    return _body(notice)


@bp.post("/notices/<int:notice_id>/acknowledge")
def acknowledge_notice(notice_id: int):
    """签收 of a notice by a recipient."""
    notice = _notice_or_404(notice_id)
    schemas.json_body(schemas.NOTICE_ACKNOWLEDGE)
    services.acknowledge(notice, actor(), request_clock())
    db.session.commit()
    return _body(notice)


@bp.post("/notices/<int:notice_id>/replies")
def reply_to_notice(notice_id: int):
    """An addressee's reply: text, and files when sent as multipart/form-data."""
    notice = _notice_or_404(notice_id)
    data, uploads = schemas.body_with_files(schemas.NOTICE_REPLY_CREATE)
    answer = services.reply(notice, actor(), request_clock(), body=data["body"], uploads=uploads)
    return created(schemas.notice_reply_json(answer))
