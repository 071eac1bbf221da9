"""Creating a measure and the manager's edits that keep its state: text, owner, deadline."""

from __future__ import annotations

from datetime import date

from tracker import scope
from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import TaskState, TaskType
from tracker.errors import PermissionDenied
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import services as reminders
from tracker.tasks import rules
from tracker.tasks.models import Task
from tracker.tasks.services.common import (
    TASK_FIELDS,
    audit_change,
    check_deadline,
    check_owner,
    check_period,
    check_version,
    raise_if,
    text,
)
from tracker.tasks.services.problem_state import refresh_problem_state

KEEP = object()  # update_task: leave the period as it is


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
    notify_owner: bool = True,
    period=None,
) -> Task:
    """Add a measure to a problem and assign it to its owner.

    `allow_past_deadline` and `notify_owner=False` are for importing an existing ledger: its open
    measures may be overdue, and its owners have long known them (no flood of assignment emails).
    """
    values = check_new_task(problem, actor, clock, measure=measure, owner=owner, unit=unit, deadline=deadline,
                            type=type, target=target, allow_past_deadline=allow_past_deadline, period=period)
    task = Task(problem=problem, **new_task_row(actor, clock, values, notify_owner=notify_owner))
    db.session.add(task)
    db.session.flush()
    audit.record(actor, clock, "task.create", task, after=audit.snapshot(task, TASK_FIELDS),
                 task_id=task.id, problem_id=problem.id)
    if notify_owner:
        reminders.notify_assignment(task, clock)  # the owner is told once this transaction commits
    refresh_problem_state(problem, actor, clock)
    return task


def check_new_task(problem, actor: User, clock: Clock, *, measure: str, owner: User | None, unit: Unit | None,
                   deadline: date | None, type: TaskType = TaskType.DEADLINE, target: str | None = None,
                   allow_past_deadline: bool = False, period=None) -> dict:
    """What `create_task` refuses (PermissionDenied, ValidationFailed), without creating anything; else
    the measure's checked values. `problem` needs only its `unit` and `lead_unit` (it may not exist yet)."""
    if not scope.can_edit_problem(actor, problem):
        raise PermissionDenied(_l("Only a manager of this problem's unit may add measures."))
    errors: dict = {}
    measure = text(measure, "measure", errors, required=True, label=_l("Measure"))
    target = text(target, "target", errors, required=False, label=_l("Target"))
    check_owner(owner, errors, actor=actor)
    if unit is None:
        errors.setdefault("unit", []).append(_l("Choose the responsible unit."))
    elif not scope.manages(actor, unit):
        errors.setdefault("unit", []).append(scope.NO_SUCH["unit"])
    check_deadline(TaskType(type), deadline, clock, errors, new=not allow_past_deadline)
    period = check_period(type, period, errors)
    raise_if(errors)
    return dict(measure=measure, target=target, type=TaskType(type), period=period, owner=owner, unit=unit,
                deadline=deadline)


def new_task_row(actor: User, clock: Clock, values: dict, *, notify_owner: bool) -> dict:
    """The columns of a new measure from `check_new_task`'s values (without its problem): what
    `create_task` gives the Task, and what a bulk insert writes."""
    now = clock.now()
    return dict(period=values["period"], measure=values["measure"], target=values["target"],
                type=values["type"], owner_id=values["owner"].id, unit_id=values["unit"].id,
                deadline=values["deadline"], original_deadline=values["deadline"], state=TaskState.ASSIGNED,
                created_at=now, created_by_id=actor.id, assigned_at=now,
                ack_required=notify_owner)  # a historical ledger's owners are not asked to sign again


def update_task(
    task: Task,
    actor: User,
    clock: Clock,
    *,
    expected_version: int | None,
    measure: str,
    target: str | None,
    type: TaskType,
    period=KEEP,
) -> Task:
    """Edit a measure's text, target, type and period (owner and deadline have their own actions).
    An ongoing measure keeps its period unless one is given; any other type has none."""
    rules.require(task, actor, "edit")
    check_version(task, expected_version)
    errors: dict = {}
    measure = text(measure, "measure", errors, required=True, label=_l("Measure"))
    target = text(target, "target", errors, required=False, label=_l("Target"))
    check_deadline(TaskType(type), task.deadline, clock, errors, new=False)
    if period is KEEP:
        period = task.period if TaskType(type) == TaskType.ONGOING else None
    period = check_period(type, period, errors)
    raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.measure, task.target, task.type, task.period = measure, target, TaskType(type), period
    audit_change(task, actor, clock, "task.update", before)
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
    rules.require(task, actor, "reassign")
    check_version(task, expected_version)
    errors: dict = {}
    check_owner(owner, errors, actor=actor)
    if unit is not None and not scope.manages(actor, unit):
        errors.setdefault("unit", []).append(scope.NO_SUCH["unit"])
    if owner is not None and owner.id == task.owner_id and (unit is None or unit.id == task.unit_id):
        errors.setdefault("owner", []).append(_l("This person already owns the measure."))
    raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.owner_id = owner.id
    task.owner = owner
    if unit is not None:
        task.unit_id = unit.id
        task.unit = unit
    if task.owner_id != before["owner_id"]:  # the new owner signs for it (签收)
        task.assigned_at, task.acknowledged_at, task.ack_required = clock.now(), None, True
    audit_change(task, actor, clock, "task.reassign", before, comment)
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
    # Not the table's condition: a manager may give an ongoing measure a first deadline here.
    rules.require(task, actor, "deadline", check_condition=False)
    check_version(task, expected_version)
    errors: dict = {}
    check_deadline(task.type, deadline, clock, errors, new=True)
    if not errors and deadline == task.deadline:
        errors.setdefault("deadline", []).append(_l("This is already the deadline."))
    if not (comment or "").strip():
        errors.setdefault("comment", []).append(_l("Give a reason for the change."))
    raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.deadline = deadline
    audit_change(task, actor, clock, "task.deadline", before, comment)
    return task
