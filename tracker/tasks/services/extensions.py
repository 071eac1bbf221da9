"""Extension requests (延期申请) and their decisions, decided by the database under races."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import ExtensionState
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.tasks import rules
from tracker.tasks.models import Extension, Task
from tracker.tasks.services.acknowledgement import acknowledge_by_working
from tracker.tasks.services.common import TASK_FIELDS, audit_change, raise_if, text

ALREADY_PENDING = _l("An extension request for this measure is already waiting for a decision.")
ALREADY_DECIDED = _l("This request has already been decided.")


def request_extension(task: Task, actor: User, clock: Clock, *, new_deadline: date | None,
                      reason: str | None) -> Extension:
    """Ask to move the deadline (延期申请); a manager decides."""
    rules.require(task, actor, "extend")
    if rules.pending_extensions(task):
        raise InvalidTransition(ALREADY_PENDING)
    errors: dict = {}
    reason = text(reason, "reason", errors, required=True, label=_l("Reason"))
    if new_deadline is None:
        errors.setdefault("new_deadline", []).append(_l("Choose the requested deadline."))
    elif new_deadline <= task.deadline:
        errors.setdefault("new_deadline", []).append(
            _l("The new deadline must be later than the current one."))
    elif new_deadline < clock.today():
        errors.setdefault("new_deadline", []).append(_l("The deadline cannot be in the past."))
    raise_if(errors)
    acknowledge_by_working(task, actor, clock)
    ext = Extension(task_id=task.id, requested_by_id=actor.id, reason=reason, old_deadline=task.deadline,
                    new_deadline=new_deadline, state=ExtensionState.PENDING, created_at=clock.now())
    db.session.add(ext)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        # Another request for this measure was made at the same moment: the unique index on pending
        # requests let exactly one in. The caller rolls back.
        raise InvalidTransition(ALREADY_PENDING) from exc
    audit.record(actor, clock, "extension.request", ext,
                 after={"old_deadline": ext.old_deadline.isoformat(),
                        "new_deadline": ext.new_deadline.isoformat()},
                 comment=reason, task_id=task.id, problem_id=task.problem_id)
    return ext


def decide_extension(ext: Extension, actor: User, clock: Clock, *, approve: bool,
                     comment: str | None = None) -> Extension:
    """Approve (the deadline moves) or reject (a reason is required) a pending request.

    Two managers deciding at once: the extension's version lets exactly one decision in; the
    other gets InvalidTransition and its transaction must be rolled back (nothing of it stays).
    """
    task = ext.task
    rules.require(task, actor, "decide_extension", check_condition=False)  # the request is checked next
    if not rules.may_decide_extension(ext, actor):
        raise PermissionDenied(_l("You asked for this extension; another manager must decide it."))
    if ext.state != ExtensionState.PENDING:
        raise InvalidTransition(ALREADY_DECIDED)
    comment = (comment or "").strip() or None
    if not approve and not comment:
        raise ValidationFailed(_l("Give a reason for the rejection."),
                               {"comment": [_l("Reason is required.")]})
    if approve and task.deadline is not None and ext.new_deadline <= task.deadline:
        # The deadline was moved past the request meanwhile; approving would pull it back.
        raise InvalidTransition(_l("The deadline has since been moved to %(date)s; this request no longer "
                                   "extends it.", date=task.deadline.isoformat()))
    ext.state = ExtensionState.APPROVED if approve else ExtensionState.REJECTED
    ext.decided_by_id, ext.decided_at, ext.decision_comment = actor.id, clock.now(), comment
    try:
        db.session.flush()  # UPDATE … WHERE version = the one read: the first decision wins
        if approve:
            before = audit.snapshot(task, TASK_FIELDS)
            task.deadline = ext.new_deadline
            audit_change(task, actor, clock, "task.deadline", before, comment)
    except StaleDataError as exc:
        raise InvalidTransition(ALREADY_DECIDED) from exc
    audit.record(actor, clock, "extension.approve" if approve else "extension.reject", ext,
                 after={"state": ext.state.value}, comment=comment, task_id=task.id,
                 problem_id=task.problem_id)
    return ext
