"""The rules of a rectification measure (DESIGN §3 "Task states"): one place for UI, API, CLI, jobs.

Every function checks permission and state, changes objects, records an AuditEvent and
flushes. None of them commits: the caller (request, command, job) commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from tracker import scope
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.clock import Clock
from tracker.enums import OPEN_STATES, OVERDUE_STATES, ExtensionState, ProblemState, Role, TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, StaleVersion, ValidationFailed
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import services as reminders
from tracker.tasks import evidence as files
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Extension, Progress, Task

TASK_FIELDS = ("measure", "target", "type", "owner_id", "unit_id", "deadline", "state", "result")
MAX_TEXT = 5000
ACTIONS = ("start", "submit", "verify", "reject", "cancel")
ALREADY_PENDING = _l("An extension request for this measure is already waiting for a decision.")
ALREADY_DECIDED = _l("This request has already been decided.")


# --- helpers ---------------------------------------------------------------------------------


def check_version(obj, expected_version: int | None) -> None:
    """Refuse an edit made on an old copy (optimistic locking); nothing is changed."""
    if expected_version is not None and int(expected_version) != obj.version:
        raise StaleVersion(
            _l("Someone else changed this item after you opened it. Reload the page and try again.")
        )


def _text(value: str | None, field: str, errors: dict, *, required: bool, label) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors.setdefault(field, []).append(_l("%(label)s is required.", label=label))
        return None
    if len(value) > MAX_TEXT:
        errors.setdefault(field, []).append(_l("At most %(n)s characters.", n=MAX_TEXT))
    return value


def _raise_if(errors: dict) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, errors)


def _settings() -> tuple[bool, bool]:
    cfg = current_app.config
    return bool(cfg.get("ALLOW_SELF_VERIFY")), bool(cfg.get("EVIDENCE_REQUIRED_ON_SUBMIT"))


def check_owner(owner: User | None, errors: dict, field: str = "owner", actor: User | None = None) -> None:
    """An owner is an active manager or staff member within the assigning actor's scope."""
    if owner is None:
        errors.setdefault(field, []).append(_l("Choose the responsible person."))
    elif actor is not None and not scope.may_pick_person(actor, owner):  # first: no name leaks out
        errors.setdefault(field, []).append(scope.NO_SUCH["person"])
    elif not owner.active:
        errors.setdefault(field, []).append(_l("%(name)s is deactivated.", name=owner.name))
    elif owner.role not in (Role.MANAGER, Role.STAFF):
        errors.setdefault(field, []).append(
            _l("%(name)s is a read-only user and cannot own a measure.", name=owner.name)
        )


def _check_deadline(type_: TaskType, deadline: date | None, clock: Clock, errors: dict, *, new: bool) -> None:
    if type_ != TaskType.ONGOING and deadline is None:
        errors.setdefault("deadline", []).append(_l("A deadline is required unless the measure is ongoing."))
    elif deadline is not None and new and deadline < clock.today():
        errors.setdefault("deadline", []).append(_l("The deadline cannot be in the past."))


# --- creating and editing ------------------------------------------------------------------------


def create_task(
    problem: Problem,
    actor: User,
    clock: Clock,
    *,
    measure: str,
    owner: User | None,
    unit: Unit | None,
    deadline: date | None,
    type: TaskType = TaskType.DEADLINE,
    target: str | None = None,
    allow_past_deadline: bool = False,
) -> Task:
    """Add a measure to a problem and assign it to its owner.

    `allow_past_deadline` is for importing an existing ledger, whose open measures may be overdue.
    """
    if not scope.can_edit_problem(actor, problem):
        raise PermissionDenied(_l("Only a manager of this problem's unit may add measures."))
    errors: dict = {}
    measure = _text(measure, "measure", errors, required=True, label=_l("Measure"))
    target = _text(target, "target", errors, required=False, label=_l("Target"))
    check_owner(owner, errors, actor=actor)
    if unit is None:
        errors.setdefault("unit", []).append(_l("Choose the responsible unit."))
    elif not scope.manages(actor, unit):
        errors.setdefault("unit", []).append(scope.NO_SUCH["unit"])
    _check_deadline(TaskType(type), deadline, clock, errors, new=not allow_past_deadline)
    _raise_if(errors)
    task = Task(
        problem=problem,
        measure=measure,
        target=target,
        type=TaskType(type),
        owner_id=owner.id,
        unit_id=unit.id,
        deadline=deadline,
        original_deadline=deadline,
        state=TaskState.ASSIGNED,
        created_at=clock.now(),
        created_by_id=actor.id,
    )
    db.session.add(task)
    db.session.flush()
    audit.record(actor, clock, "task.create", task, after=audit.snapshot(task, TASK_FIELDS),
                 task_id=task.id, problem_id=problem.id)
    reminders.notify_assignment(task, clock)  # the owner is told once this transaction commits
    refresh_problem_state(problem)
    return task


def update_task(
    task: Task,
    actor: User,
    clock: Clock,
    *,
    expected_version: int | None,
    measure: str,
    target: str | None,
    type: TaskType,
) -> Task:
    """Edit a measure's text, target and type (owner and deadline have their own actions)."""
    _require_manager(task, actor)
    _require_open(task)
    check_version(task, expected_version)
    errors: dict = {}
    measure = _text(measure, "measure", errors, required=True, label=_l("Measure"))
    target = _text(target, "target", errors, required=False, label=_l("Target"))
    _check_deadline(TaskType(type), task.deadline, clock, errors, new=False)
    _raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.measure, task.target, task.type = measure, target, TaskType(type)
    _audit_change(task, actor, clock, "task.update", before)
    return task


def reassign_task(
    task: Task,
    actor: User,
    clock: Clock,
    *,
    owner: User | None,
    unit: Unit | None = None,
    expected_version: int | None,
    comment: str | None = None,
) -> Task:
    """Give an open measure to another person (and optionally another unit)."""
    _require_manager(task, actor)
    _require_open(task)
    check_version(task, expected_version)
    errors: dict = {}
    check_owner(owner, errors, actor=actor)
    if unit is not None and not scope.manages(actor, unit):
        errors.setdefault("unit", []).append(scope.NO_SUCH["unit"])
    if owner is not None and owner.id == task.owner_id and (unit is None or unit.id == task.unit_id):
        errors.setdefault("owner", []).append(_l("This person already owns the measure."))
    _raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.owner_id = owner.id
    task.owner = owner
    if unit is not None:
        task.unit_id = unit.id
        task.unit = unit
    _audit_change(task, actor, clock, "task.reassign", before, comment)
    reminders.notify_assignment(task, clock)
    return task


def change_deadline(
    task: Task,
    actor: User,
    clock: Clock,
    *,
    deadline: date | None,
    expected_version: int | None,
    comment: str | None = None,
) -> Task:
    """A manager moves the deadline directly; the original deadline stays on record."""
    _require_manager(task, actor)
    _require_open(task)
    check_version(task, expected_version)
    errors: dict = {}
    _check_deadline(task.type, deadline, clock, errors, new=True)
    if not errors and deadline == task.deadline:
        errors.setdefault("deadline", []).append(_l("This is already the deadline."))
    if not (comment or "").strip():
        errors.setdefault("comment", []).append(_l("Give a reason for the change."))
    _raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.deadline = deadline
    _audit_change(task, actor, clock, "task.deadline", before, comment)
    return task


# --- state transitions -----------------------------------------------------------------------------


def _require_manager(task: Task, actor: User) -> None:
    if not scope.can_manage_task(actor, task):
        raise PermissionDenied(_l("Only a manager of this measure's unit may do this."))


def _require_worker(task: Task, actor: User) -> None:
    if not scope.can_work_on_task(actor, task):
        raise PermissionDenied(_l("Only the responsible person or a manager of this unit may do this."))


def _require_open(task: Task) -> None:
    if task.state not in OPEN_STATES:
        raise InvalidTransition(_l("This measure is %(state)s and can no longer be changed.",
                                   state=task.state.label))


def _require_state(task: Task, *states: TaskState) -> None:
    if task.state not in states:
        raise InvalidTransition(_l("Not possible while the measure is %(state)s.", state=task.state.label))


def _audit_change(task: Task, actor: User, clock: Clock, action: str, before: dict, comment=None) -> None:
    db.session.flush()  # bumps the version; a concurrent edit fails here with StaleDataError
    old, new = audit.changed(before, audit.snapshot(task, TASK_FIELDS))
    audit.record(actor, clock, action, task, before=old, after=new, comment=comment,
                 task_id=task.id, problem_id=task.problem_id)


def start(task: Task, actor: User, clock: Clock, *, expected_version: int | None = None,
          comment: str | None = None) -> Task:
    """assigned → in_progress."""
    _require_worker(task, actor)
    _require_state(task, TaskState.ASSIGNED)
    check_version(task, expected_version)
    before = audit.snapshot(task, TASK_FIELDS)
    task.state = TaskState.IN_PROGRESS
    task.started_at = clock.now()
    _audit_change(task, actor, clock, "task.start", before, comment)
    return task


def submit(task: Task, actor: User, clock: Clock, *, result: str | None,
           expected_version: int | None = None, uploads: list[Upload] | None = None) -> Task:
    """assigned/in_progress → submitted, with the result text (整改成效) and optional evidence."""
    _require_worker(task, actor)
    _require_state(task, TaskState.ASSIGNED, TaskState.IN_PROGRESS)
    check_version(task, expected_version)
    errors: dict = {}
    result = _text(result, "result", errors, required=True, label=_l("Result"))
    _raise_if(errors)
    _, evidence_required = _settings()
    has_evidence = bool(uploads) or db.session.scalar(
        sa.select(sa.func.count(Evidence.id)).where(Evidence.task_id == task.id)
    )
    if evidence_required and not has_evidence:
        raise ValidationFailed(_l("Attach at least one evidence file before submitting."),
                               {"files": [_l("Evidence is required.")]})
    before = audit.snapshot(task, TASK_FIELDS)
    if uploads:
        _attach(task, actor, clock, uploads, progress=None)
    if task.started_at is None:
        task.started_at = clock.now()
    task.state = TaskState.SUBMITTED
    task.result = result
    task.submitted_at = clock.now()
    task.submitted_by_id = actor.id
    _audit_change(task, actor, clock, "task.submit", before)
    return task


def verify(task: Task, actor: User, clock: Clock, *, expected_version: int | None = None,
           comment: str | None = None) -> Task:
    """submitted → closed (销号), by a manager who did not submit it."""
    _require_manager(task, actor)
    _require_state(task, TaskState.SUBMITTED)
    check_version(task, expected_version)
    allow_self, _ = _settings()
    if not allow_self and task.submitted_by_id == actor.id:
        raise PermissionDenied(_l("You submitted this measure; another manager must verify it."))
    before = audit.snapshot(task, TASK_FIELDS)
    task.state = TaskState.CLOSED
    task.closed_at = clock.now()
    task.closed_on = clock.today()
    task.closed_by_id = actor.id
    _audit_change(task, actor, clock, "task.verify", before, comment)
    _settle_pending_extensions(task, actor, clock, comment)
    refresh_problem_state(task.problem)
    return task


def reject(task: Task, actor: User, clock: Clock, *, comment: str | None,
           expected_version: int | None = None) -> Task:
    """submitted → in_progress, with the reason the owner must address."""
    _require_manager(task, actor)
    _require_state(task, TaskState.SUBMITTED)
    check_version(task, expected_version)
    errors: dict = {}
    comment = _text(comment, "comment", errors, required=True, label=_l("Reason"))
    _raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.state = TaskState.IN_PROGRESS
    task.submitted_at = None
    _audit_change(task, actor, clock, "task.reject", before, comment)
    return task


def cancel(task: Task, actor: User, clock: Clock, *, comment: str | None,
           expected_version: int | None = None) -> Task:
    """any open state → cancelled (撤销), by a manager, with a reason."""
    _require_manager(task, actor)
    _require_open(task)
    check_version(task, expected_version)
    errors: dict = {}
    comment = _text(comment, "comment", errors, required=True, label=_l("Reason"))
    _raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.state = TaskState.CANCELLED
    task.cancelled_at = clock.now()
    _audit_change(task, actor, clock, "task.cancel", before, comment)
    _settle_pending_extensions(task, actor, clock, comment)
    refresh_problem_state(task.problem)
    return task


def _settle_pending_extensions(task: Task, actor: User, clock: Clock, comment: str | None) -> None:
    """A closed or cancelled measure has no deadline left to move: its pending requests end rejected."""
    for ext in _pending_extensions(task):
        ext.state = ExtensionState.REJECTED
        ext.decided_by_id, ext.decided_at = actor.id, clock.now()
        ext.decision_comment = comment


def transition(task: Task, actor: User, clock: Clock, action: str, *, comment: str | None = None,
               result: str | None = None, expected_version: int | None = None,
               uploads: list[Upload] | None = None) -> Task:
    """Dispatch one of ACTIONS by name (the API and the task page use this)."""
    if action == "start":
        return start(task, actor, clock, expected_version=expected_version, comment=comment)
    if action == "submit":
        return submit(task, actor, clock, result=result, expected_version=expected_version, uploads=uploads)
    if action == "verify":
        return verify(task, actor, clock, expected_version=expected_version, comment=comment)
    if action == "reject":
        return reject(task, actor, clock, comment=comment, expected_version=expected_version)
    if action == "cancel":
        return cancel(task, actor, clock, comment=comment, expected_version=expected_version)
    raise ValidationFailed(_l("Unknown action."), {"action": [_l("Unknown action.")]})


# --- progress and evidence ------------------------------------------------------------------


def _attach(task: Task, actor: User, clock: Clock, uploads: list[Upload], progress: Progress | None):
    """Store files; the written files are remembered so a rollback can remove them."""
    stored = []
    try:
        for upload in uploads:
            values = files.store(upload)
            stored.append(values["stored_name"])
            ev = Evidence(task_id=task.id, progress=progress, uploaded_by_id=actor.id,
                          created_at=clock.now(), **values)
            db.session.add(ev)
    except BaseException:
        files.discard(stored)
        raise
    db.session.info.setdefault("written_files", []).extend(stored)
    return stored


def post_progress(task: Task, actor: User, clock: Clock, *, body: str | None,
                  uploads: list[Upload] | None = None) -> Progress:
    """A dated progress note with optional evidence; the first one starts an assigned task."""
    _require_worker(task, actor)
    _require_open(task)
    errors: dict = {}
    body = _text(body, "body", errors, required=True, label=_l("Progress"))
    _raise_if(errors)
    progress = Progress(task_id=task.id, author_id=actor.id, body=body, created_at=clock.now())
    db.session.add(progress)
    db.session.flush()
    if uploads:
        _attach(task, actor, clock, uploads, progress)
    audit.record(actor, clock, "progress.create", progress, after={"body": body},
                 task_id=task.id, problem_id=task.problem_id)
    if task.state == TaskState.ASSIGNED:
        start(task, actor, clock)
    return progress


# --- extensions ---------------------------------------------------------------------------------


def _pending_extensions(task: Task) -> list[Extension]:
    return list(db.session.scalars(
        sa.select(Extension).where(Extension.task_id == task.id, Extension.state == ExtensionState.PENDING)
    ))


def request_extension(task: Task, actor: User, clock: Clock, *, new_deadline: date | None,
                      reason: str | None) -> Extension:
    """Ask to move the deadline (延期申请); a manager decides."""
    _require_worker(task, actor)
    if task.type == TaskType.ONGOING:
        raise InvalidTransition(_l("Ongoing measures have no deadline to extend."))
    _require_state(task, *OVERDUE_STATES)
    if _pending_extensions(task):
        raise InvalidTransition(ALREADY_PENDING)
    errors: dict = {}
    reason = _text(reason, "reason", errors, required=True, label=_l("Reason"))
    if new_deadline is None:
        errors.setdefault("new_deadline", []).append(_l("Choose the requested deadline."))
    elif new_deadline <= task.deadline:
        errors.setdefault("new_deadline", []).append(
            _l("The new deadline must be later than the current one."))
    elif new_deadline < clock.today():
        errors.setdefault("new_deadline", []).append(_l("The deadline cannot be in the past."))
    _raise_if(errors)
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


def may_decide_extension(ext: Extension, actor: User) -> bool:
    """A manager of the measure's unit decides, never on their own request unless ALLOW_SELF_VERIFY
    (the rule of self-verification)."""
    allow_self, _ = _settings()
    return scope.can_manage_task(actor, ext.task) and (allow_self or ext.requested_by_id != actor.id)


def decide_extension(ext: Extension, actor: User, clock: Clock, *, approve: bool,
                     comment: str | None = None) -> Extension:
    """Approve (the deadline moves) or reject (a reason is required) a pending request.

    Two managers deciding at once: the extension's version lets exactly one decision in; the
    other gets InvalidTransition and its transaction must be rolled back (nothing of it stays).
    """
    task = ext.task
    _require_manager(task, actor)
    if not may_decide_extension(ext, actor):
        raise PermissionDenied(_l("You asked for this extension; another manager must decide it."))
    if ext.state != ExtensionState.PENDING:
        raise InvalidTransition(ALREADY_DECIDED)
    _require_open(task)
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
            _audit_change(task, actor, clock, "task.deadline", before, comment)
    except StaleDataError as exc:
        raise InvalidTransition(ALREADY_DECIDED) from exc
    audit.record(actor, clock, "extension.approve" if approve else "extension.reject", ext,
                 after={"state": ext.state.value}, comment=comment, task_id=task.id,
                 problem_id=task.problem_id)
    return ext


# --- problem state ------------------------------------------------------------------------------


def derive_problem_state(states: list[TaskState]) -> ProblemState:
    """Closed when every task is closed or cancelled and at least one is closed."""
    if states and all(s in (TaskState.CLOSED, TaskState.CANCELLED) for s in states):
        return ProblemState.CLOSED if TaskState.CLOSED in states else ProblemState.CANCELLED
    return ProblemState.OPEN


def refresh_problem_state(problem: Problem) -> None:
    """Recompute the stored problem state from its tasks (the only writer of Problem.state)."""
    db.session.flush()
    rows = db.session.execute(
        sa.select(Task.state, Task.closed_on).where(Task.problem_id == problem.id)
    ).all()
    new_state = derive_problem_state([r.state for r in rows])
    closed_on = max((r.closed_on for r in rows if r.closed_on), default=None)
    new_closed_on = closed_on if new_state == ProblemState.CLOSED else None
    if problem.state != new_state or problem.closed_on != new_closed_on:
        problem.state, problem.closed_on = new_state, new_closed_on


# --- what the UI offers -----------------------------------------------------------------------


def available_actions(task: Task, actor: User) -> set[str]:
    """The actions this actor may take now; the task page shows exactly these."""
    acts: set[str] = set()
    worker = scope.can_work_on_task(actor, task)
    manager = scope.can_manage_task(actor, task)
    allow_self, _ = _settings()
    if worker and task.state in OPEN_STATES:
        acts.add("progress")
    if worker and task.state == TaskState.ASSIGNED:
        acts.add("start")
    if worker and task.state in OVERDUE_STATES:
        acts.add("submit")
        if task.type != TaskType.ONGOING:
            acts.add("extend")
    if manager and task.state == TaskState.SUBMITTED and (allow_self or task.submitted_by_id != actor.id):
        acts.add("verify")
    if manager and task.state == TaskState.SUBMITTED:
        acts.add("reject")
    if manager and task.state in OPEN_STATES:
        acts.update({"cancel", "reassign", "edit"})
        if task.type != TaskType.ONGOING or task.deadline is not None:
            acts.add("deadline")
    if manager and any(may_decide_extension(e, actor) for e in _pending_extensions(task)):
        acts.add("decide_extension")
    return acts


@dataclass
class TimelineEntry:
    at: object
    event: AuditEvent
    progress: Progress | None = None
    extension: Extension | None = None


def timeline(task: Task) -> list[TimelineEntry]:
    """Every event of a task in time order, with its progress note or extension attached.

    Three queries however long the history is.
    """
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.task_id == task.id)
        .options(selectinload(AuditEvent.actor)).order_by(AuditEvent.created_at, AuditEvent.id)
    ).all()
    progress = {p.id: p for p in db.session.scalars(
        sa.select(Progress).where(Progress.task_id == task.id)
        .options(selectinload(Progress.evidence), selectinload(Progress.author))
    )}
    extensions = {e.id: e for e in db.session.scalars(
        sa.select(Extension).where(Extension.task_id == task.id)
        .options(selectinload(Extension.requested_by), selectinload(Extension.decided_by))
    )}
    entries = []
    for ev in events:
        entry = TimelineEntry(at=ev.created_at, event=ev)
        if ev.object_type == "progress":
            entry.progress = progress.get(ev.object_id)
        elif ev.object_type == "extensions":
            entry.extension = extensions.get(ev.object_id)
        entries.append(entry)
    return entries


# --- the same rules as SQL, for lists (home page queues, API) ---------------------------------


def managed_clause(actor: User):
    """SQL twin of scope.can_manage_task: tasks whose unit the actor manages."""
    if actor.role == Role.ADMIN:
        return sa.true()
    if actor.role != Role.MANAGER or actor.unit is None:
        return sa.false()
    return Task.unit_id.in_(scope.subtree_ids(actor.unit))


def verifiable_clause(actor: User):
    """SQL twin of the "verify" entry of available_actions: submitted, managed, not self-submitted."""
    allow_self, _ = _settings()
    clause = sa.and_(Task.state == TaskState.SUBMITTED, managed_clause(actor))
    if not allow_self:
        clause = sa.and_(clause, sa.or_(Task.submitted_by_id.is_(None), Task.submitted_by_id != actor.id))
    return clause


def decidable_clause(actor: User):
    """SQL twin of may_decide_extension for pending requests: managed, not the actor's own."""
    allow_self, _ = _settings()
    clause = sa.and_(Extension.state == ExtensionState.PENDING, managed_clause(actor))
    if not allow_self:
        clause = sa.and_(clause, Extension.requested_by_id != actor.id)
    return clause
