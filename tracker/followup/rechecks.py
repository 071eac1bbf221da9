"""回头看 / 复查: a manager schedules a re-check of a closed measure (date, reviewer), or draws a recorded
random sample of a period's closures; the reviewer finds it 巩固 (consolidated) or 反弹 (rebounded).
A rebound reopens the measure as round N+1: the earlier closure, its result and its evidence stay on
record (task_rounds; evidence rows are never removed), and its problem is marked 反弹.
"""

from __future__ import annotations

import math
import random
import secrets
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from tracker import scope
from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import Role, TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.followup.models import Recheck, RecheckSample, RecheckState, TaskRound
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import notices
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Task
from tracker.tasks.services.common import TASK_FIELDS, audit_change, raise_if, text
from tracker.tasks.services.files import attach
from tracker.tasks.services.problem_state import refresh_problem_state

REVIEWER_ROLES = (Role.ADMIN, Role.MANAGER, Role.VIEWER)
MAX_SAMPLE = 500
ALREADY_DECIDED = _l("This re-check has already been recorded.")


def may_schedule(actor: User, task: Task) -> bool:
    """A manager of the measure's unit (admins anywhere), for a closed measure."""
    return task.state == TaskState.CLOSED and scope.can_manage_task(actor, task)


def _check_reviewer(reviewer: User | None, task: Task | None, unit: Unit | None, errors: dict) -> None:
    """An active manager, leader (viewer) or admin who reads the measure (or the sample's unit), and
    not its owner: the one who rectified does not check their own work."""
    if reviewer is None:
        errors.setdefault("reviewer", []).append(_l("Choose the reviewer."))
        return
    covers = scope.can_read_task(reviewer, task) if task is not None else scope.covers(reviewer, unit)
    if not covers or reviewer.role not in REVIEWER_ROLES:
        errors.setdefault("reviewer", []).append(scope.NO_SUCH["person"])
    elif not reviewer.active:
        errors.setdefault("reviewer", []).append(_l("%(name)s is deactivated.", name=reviewer.name))
    elif task is not None and reviewer.id == task.owner_id:
        errors.setdefault("reviewer", []).append(
            _l("The responsible person cannot re-check their own measure."))


def _check_due(due_on: date | None, clock: Clock, errors: dict) -> None:
    if due_on is None:
        errors.setdefault("due_on", []).append(_l("Choose the date of the re-check."))
    elif due_on < clock.today():
        errors.setdefault("due_on", []).append(_l("The date cannot be in the past."))


def schedule(actor: User, task: Task, clock: Clock, *, due_on: date | None, reviewer: User | None,
             sample: RecheckSample | None = None) -> Recheck:
    """Schedule a re-check of the measure's current closure; one waits per closure at a time."""
    if not scope.can_manage_task(actor, task):
        raise PermissionDenied(_l("Only a manager of this measure's unit may do this."))
    if task.state != TaskState.CLOSED:
        raise InvalidTransition(_l("Only a closed measure can be re-checked."))
    errors: dict = {}
    _check_due(due_on, clock, errors)
    _check_reviewer(reviewer, task, None, errors)
    raise_if(errors)
    waiting = db.session.scalar(sa.select(Recheck.id).where(
        Recheck.task_id == task.id, Recheck.round == task.round, Recheck.state == RecheckState.SCHEDULED))
    if waiting is not None:
        raise InvalidTransition(_l("A re-check of this measure is already scheduled."))
    recheck = Recheck(task_id=task.id, round=task.round, due_on=due_on, reviewer_id=reviewer.id,
                      scheduled_by_id=actor.id, scheduled_at=clock.now(),
                      sample_id=sample.id if sample else None)
    db.session.add(recheck)
    db.session.flush()  # the partial unique index refuses a second waiting re-check here
    audit.record(actor, clock, "recheck.schedule", recheck,
                 after={"due_on": due_on.isoformat(), "reviewer_id": reviewer.id, "round": task.round},
                 task_id=task.id, problem_id=task.problem_id)
    return recheck


def population(actor: User, unit: Unit, date_from: date, date_to: date) -> list[int]:
    """The closures a sample is drawn from: measures of the unit's subtree the actor manages, closed
    (their current round) in the period, by id."""
    return list(db.session.scalars(
        sa.select(Task.id).where(Task.unit_id.in_(scope.subtree_ids(unit)), Task.state == TaskState.CLOSED,
                                 Task.closed_on.between(date_from, date_to), scope.task_clause(actor))
        .order_by(Task.id)))


def draw(ids: list[int], size: int, seed: int) -> list[int]:
    """The draw itself: the same ids, size and seed give the same picks, on any machine."""
    return random.Random(seed).sample(ids, min(size, len(ids)))


def draw_sample(actor: User, unit: Unit | None, clock: Clock, *, date_from: date | None,
                date_to: date | None, share: int | None = None, count: int | None = None,
                seed: int | None = None, due_on: date | None, reviewer: User | None) -> RecheckSample:
    """Draw `share` percent (rounded up) or `count` of the period's closures at random, record the draw
    and schedule a re-check of each picked measure (those already waiting for one are kept as they are)."""
    if unit is None or not scope.manages(actor, unit):
        raise ValidationFailed(scope.NO_SUCH["unit"], {"unit": [scope.NO_SUCH["unit"]]})
    errors: dict = {}
    if date_from is None or date_to is None or date_from > date_to:
        errors.setdefault("date_to", []).append(_l("Give the period whose closures are sampled."))
    if (share is None) == (count is None):
        errors.setdefault("share", []).append(_l("Give either a share or a count."))
    elif share is not None and not 1 <= share <= 100:
        errors.setdefault("share", []).append(_l("A share is 1 to 100 percent."))
    elif count is not None and not 1 <= count <= MAX_SAMPLE:
        errors.setdefault("count", []).append(_l("Draw 1 to %(n)s measures.", n=MAX_SAMPLE))
    if seed is not None and not 0 <= seed <= MAX_ID:
        errors.setdefault("seed", []).append(_l("A seed is a whole number from 0 to %(n)s.", n=MAX_ID))
    _check_due(due_on, clock, errors)
    _check_reviewer(reviewer, None, unit, errors)
    raise_if(errors)
    ids = population(actor, unit, date_from, date_to)
    if not ids:
        raise ValidationFailed(_l("No measure of the unit was closed out in that period."),
                               {"date_to": [_l("No closures in the period.")]})
    size = min(count if count is not None else math.ceil(len(ids) * share / 100), len(ids), MAX_SAMPLE)
    seed = secrets.randbelow(MAX_ID) if seed is None else seed
    picked = draw(ids, size, seed)
    sample = RecheckSample(unit_id=unit.id, date_from=date_from, date_to=date_to, share=share, size=size,
                           seed=seed, population=ids, picked=picked, drawn_by_id=actor.id,
                           drawn_at=clock.now())
    db.session.add(sample)
    db.session.flush()
    waiting = set(db.session.scalars(sa.select(Recheck.task_id).where(
        Recheck.task_id.in_(picked), Recheck.state == RecheckState.SCHEDULED)))
    for task in db.session.scalars(sa.select(Task).where(Task.id.in_(picked))):
        if task.id not in waiting and task.owner_id != reviewer.id:
            schedule(actor, task, clock, due_on=due_on, reviewer=reviewer, sample=sample)
    audit.record(actor, clock, "recheck.sample", sample,
                 after={"population": len(ids), "size": size, "seed": seed, "picked": picked})
    return sample


def record(recheck: Recheck, actor: User, clock: Clock, *, rebounded: bool, note: str | None,
           new_deadline: date | None = None, uploads: list[Upload] | None = None,
           expected_version: int | None = None) -> Recheck:
    """The reviewer's finding: 巩固, or 反弹 (a note is required) which reopens the measure as a new round
    with a new deadline (none for an ongoing measure)."""
    task = recheck.task
    if actor.id != recheck.reviewer_id and actor.role != Role.ADMIN:
        raise PermissionDenied(_l("Only the reviewer named for this re-check may record it."))
    stale = expected_version is not None and expected_version != recheck.version
    if recheck.state != RecheckState.SCHEDULED or stale:
        raise InvalidTransition(ALREADY_DECIDED)
    errors: dict = {}
    note = text(note, "note", errors, required=rebounded, label=_l("Findings"))
    if rebounded:
        if task.state != TaskState.CLOSED or task.round != recheck.round:
            raise InvalidTransition(_l("The measure is no longer closed; record it as consolidated or "
                                       "cancel the re-check."))
        if task.type != TaskType.ONGOING and new_deadline is None:
            errors.setdefault("new_deadline", []).append(_l("Give the new deadline of the reopened measure."))
        elif new_deadline is not None and new_deadline < clock.today():
            errors.setdefault("new_deadline", []).append(_l("The deadline cannot be in the past."))
    raise_if(errors)
    recheck.state = RecheckState.REBOUNDED if rebounded else RecheckState.CONSOLIDATED
    recheck.note, recheck.decided_at, recheck.decided_on = note, clock.now(), clock.today()
    try:
        db.session.flush()  # UPDATE … WHERE version = the one read: the first finding wins
    except StaleDataError as exc:
        raise InvalidTransition(ALREADY_DECIDED) from exc
    if uploads:
        attach(task, actor, clock, uploads, progress=None, recheck_id=recheck.id)
    audit.record(actor, clock, f"recheck.{recheck.state.value}", recheck,
                 after={"state": recheck.state.value}, comment=note, task_id=task.id,
                 problem_id=task.problem_id)
    if rebounded:
        reopen(task, actor, clock, recheck, new_deadline)
    return recheck


def reopen(task: Task, actor: User, clock: Clock, recheck: Recheck, new_deadline: date | None) -> None:
    """Round N+1: the closure goes on record, the measure is back with its owner, the problem is 反弹."""
    db.session.add(TaskRound(
        task_id=task.id, round=task.round, deadline=task.deadline, result=task.result,
        rating=task.rating.value if task.rating else None, closed_at=task.closed_at,
        closed_on=task.closed_on, closed_by_id=task.closed_by_id, reopened_at=clock.now(),
        recheck_id=recheck.id))
    before = audit.snapshot(task, TASK_FIELDS)
    task.round += 1
    task.state = TaskState.IN_PROGRESS
    task.closed_at = task.closed_on = task.closed_by_id = None
    task.submitted_at = task.rating = task.review_step = None
    if new_deadline is not None:
        task.deadline = new_deadline
    audit_change(task, actor, clock, "task.reopen", before, recheck.note)
    # A plain UPDATE: the mark is derived, and must not make someone's open edit of the problem stale.
    db.session.execute(sa.update(Problem).where(Problem.id == task.problem_id)
                       .values(rebounded_at=clock.now()).execution_options(synchronize_session=False))
    db.session.expire(task.problem, ["rebounded_at"])
    refresh_problem_state(task.problem, actor, clock)
    notices.rejected(task, actor, clock, recheck.note)


def cancel(recheck: Recheck, actor: User, clock: Clock, *, reason: str | None) -> Recheck:
    """A manager of the measure's unit withdraws a waiting re-check, with a reason."""
    if not scope.can_manage_task(actor, recheck.task):
        raise PermissionDenied(_l("Only a manager of this measure's unit may do this."))
    if recheck.state != RecheckState.SCHEDULED:
        raise InvalidTransition(ALREADY_DECIDED)
    errors: dict = {}
    reason = text(reason, "reason", errors, required=True, label=_l("Reason"))
    raise_if(errors)
    recheck.state = RecheckState.CANCELLED
    recheck.note, recheck.decided_at, recheck.decided_on = reason, clock.now(), clock.today()
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise InvalidTransition(ALREADY_DECIDED) from exc
    audit.record(actor, clock, "recheck.cancel", recheck, comment=reason, task_id=recheck.task_id,
                 problem_id=recheck.task.problem_id)
    return recheck


def of_task(task: Task) -> list[Recheck]:
    return list(db.session.scalars(sa.select(Recheck).where(Recheck.task_id == task.id)
                                   .options(selectinload(Recheck.reviewer))
                                   .order_by(Recheck.scheduled_at, Recheck.id)))


def rounds_of(task: Task) -> list[TaskRound]:
    return list(db.session.scalars(sa.select(TaskRound).where(TaskRound.task_id == task.id)
                                   .options(selectinload(TaskRound.closed_by)).order_by(TaskRound.round)))


def due_for(actor: User, limit: int) -> tuple[list[Recheck], int]:
    """The re-checks waiting for this reviewer, the earliest first, and their total."""
    where = sa.and_(Recheck.reviewer_id == actor.id, Recheck.state == RecheckState.SCHEDULED)
    total = db.session.scalar(sa.select(sa.func.count(Recheck.id)).where(where))
    rows = db.session.scalars(sa.select(Recheck).where(where).options(joinedload(Recheck.task))
                              .order_by(Recheck.due_on, Recheck.id).limit(limit)).all()
    return list(rows), total or 0
