"""阶段性销号: each period of an ongoing measure is submitted by its owner and verified or returned by a
manager, under the close-out's rules (scope, no self-verification, a reason to return, evidence,
audit); the measure itself stays open. A period that ended with nothing submitted or verified is
missed: red on the measure, reminded and counted.

Periods follow the calendar (2026年3月, 2026年第一季度, 2026年上半年, 2026年度) from the one in which the
measure was assigned up to the one holding today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import OVERDUE_STATES, TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.followup.models import (
    PeriodKind,
    PeriodState,
    TaskPeriod,
    period_label,
    period_of,
    periods_between,
    previous_period,
)
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.tasks import rules
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Task
from tracker.tasks.services.acknowledgement import acknowledge_by_working
from tracker.tasks.services.common import raise_if, text
from tracker.tasks.services.files import attach
from tracker.tasks.services.transitions import start as start_work

LIVE = (PeriodState.SUBMITTED, PeriodState.VERIFIED)
ALREADY_DECIDED = _l("This period's result has already been decided.")


def first_day(task: Task, clock: Clock) -> date:
    """The local date the measure was assigned: its first period holds it."""
    moment = task.created_at or clock.now()
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(clock.tz).date()


@dataclass(frozen=True)
class PeriodRow:
    """One period of a measure as the task page, the API and the reminders see it."""

    start: date
    end: date
    label: str
    submission: TaskPeriod | None  # the live one, else the last returned one
    current: bool
    missed: bool

    @property
    def open_for_submission(self) -> bool:
        return self.submission is None or self.submission.state == PeriodState.REJECTED


def submissions(task: Task) -> list[TaskPeriod]:
    return list(db.session.scalars(sa.select(TaskPeriod).where(TaskPeriod.task_id == task.id)
                                   .options(selectinload(TaskPeriod.submitted_by),
                                            selectinload(TaskPeriod.decided_by))
                                   .order_by(TaskPeriod.period_start, TaskPeriod.id)))


def periods(task: Task, clock: Clock, lang: str = "zh") -> list[PeriodRow]:
    """Every period of the measure so far, oldest first (empty unless it has a period)."""
    if task.period is None or task.type != TaskType.ONGOING:
        return []
    today = clock.today()
    found: dict[date, TaskPeriod] = {}
    for sub in submissions(task):
        if sub.kind == task.period and (sub.period_start not in found or sub.state in LIVE):
            found[sub.period_start] = sub
    rows = []
    for start, end in periods_between(task.period, first_day(task, clock), today):
        sub = found.get(start)
        rows.append(PeriodRow(start, end, period_label(task.period, start, lang), sub, current=end >= today,
                              missed=end < today and (sub is None or sub.state not in LIVE)))
    return rows


def missed_count(task: Task, clock: Clock) -> int:
    return sum(1 for row in periods(task, clock) if row.missed)


def missed_clause(today: date):
    """SQL: open ongoing measures whose last ended period has no live result (assigned before it ended)."""
    terms = []
    for kind in PeriodKind:
        start, end = previous_period(kind, today)
        live = sa.select(TaskPeriod.id).where(TaskPeriod.task_id == Task.id, TaskPeriod.period_start == start,
                                              TaskPeriod.state.in_(LIVE))
        cutoff = datetime.combine(end, datetime.max.time()).replace(tzinfo=UTC)
        terms.append(sa.and_(Task.period == kind, Task.created_at <= cutoff, ~live.exists()))
    return sa.and_(Task.type == TaskType.ONGOING, Task.state.in_(OVERDUE_STATES), sa.or_(*terms))


def _period_for(task: Task, clock: Clock, start: date | str | None) -> tuple[date, date]:
    """The period the owner reports on: the given one (any from the first to the current), else the
    current one."""
    today = clock.today()
    if start in (None, ""):
        return period_of(task.period, today)
    try:
        day = start if isinstance(start, date) else date.fromisoformat(str(start))
    except ValueError:
        day = None
    if day is None or day > today or day < period_of(task.period, first_day(task, clock))[0]:
        raise ValidationFailed(_l("Choose a period from the measure's first to the current one."),
                               {"period_start": [_l("Choose a period.")]})
    return period_of(task.period, day)


def submit_period(task: Task, actor: User, clock: Clock, *, result: str | None, period_start=None,
                  uploads: list[Upload] | None = None) -> TaskPeriod:
    """The owner (or a manager) reports one period's result with evidence; a manager verifies it."""
    rules.require(task, actor, "submit_period")
    errors: dict = {}
    result = text(result, "result", errors, required=True, label=_l("Result"))
    raise_if(errors)
    start, end = _period_for(task, clock, period_start)
    live = db.session.scalar(sa.select(TaskPeriod).where(
        TaskPeriod.task_id == task.id, TaskPeriod.period_start == start, TaskPeriod.state.in_(LIVE)))
    if live is not None:
        raise InvalidTransition(_l("%(period)s has already been submitted.",
                                   period=period_label(task.period, start)))
    if current_app.config.get("EVIDENCE_REQUIRED_ON_SUBMIT") and not uploads:
        raise ValidationFailed(_l("Attach at least one evidence file before submitting."),
                               {"files": [_l("Evidence is required.")]})
    acknowledge_by_working(task, actor, clock)
    sub = TaskPeriod(task_id=task.id, kind=task.period, period_start=start, period_end=end, result=result,
                     submitted_by_id=actor.id, submitted_at=clock.now())
    db.session.add(sub)
    db.session.flush()  # the partial unique index refuses a second live result of the period here
    if uploads:
        attach(task, actor, clock, uploads, progress=None, period_id=sub.id)
    audit.record(actor, clock, "period.submit", sub, after={"period": period_label(task.period, start),
                                                              "result": result},
                 task_id=task.id, problem_id=task.problem_id)
    if task.state == TaskState.ASSIGNED:  # reporting a period is working on it, like a progress note
        start_work(task, actor, clock)
    return sub


def may_decide(sub: TaskPeriod, task: Task, actor: User) -> bool:
    """A manager of the measure's unit who did not submit this result (unless ALLOW_SELF_VERIFY)."""
    return rules.allowed(task, actor, "decide_period") and (
        rules.allow_self_verify() or sub.submitted_by_id != actor.id)


def decide_period(sub: TaskPeriod, actor: User, clock: Clock, *, approve: bool, comment: str | None = None,
                  expected_version: int | None = None) -> TaskPeriod:
    """Verify (阶段性销号) or return a period's result; the measure stays open either way."""
    task = db.session.get(Task, sub.task_id)
    rules.require(task, actor, "decide_period", check_condition=False)
    if sub.submitted_by_id == actor.id and not rules.allow_self_verify():
        raise PermissionDenied(_l("You submitted this result; another manager must verify it."))
    stale = expected_version is not None and expected_version != sub.version
    if sub.state != PeriodState.SUBMITTED or stale:
        raise InvalidTransition(ALREADY_DECIDED)
    comment = (comment or "").strip() or None
    if not approve and not comment:
        raise ValidationFailed(_l("Give a reason for returning it."),
                               {"comment": [_l("Reason is required.")]})
    sub.state = PeriodState.VERIFIED if approve else PeriodState.REJECTED
    sub.decided_by_id, sub.decided_at, sub.decided_on = actor.id, clock.now(), clock.today()
    sub.decision_comment = comment
    try:
        db.session.flush()  # UPDATE … WHERE version = the one read: the first decision wins
    except StaleDataError as exc:
        raise InvalidTransition(ALREADY_DECIDED) from exc
    audit.record(actor, clock, "period.verify" if approve else "period.reject", sub,
                 after={"period": period_label(sub.kind, sub.period_start), "state": sub.state.value},
                 comment=comment, task_id=task.id, problem_id=task.problem_id)
    return sub


def pending_for(actor: User, limit: int) -> tuple[list[TaskPeriod], int]:
    """Period results waiting for this manager's decision (oldest first) and their total."""
    where = sa.and_(TaskPeriod.state == PeriodState.SUBMITTED, Task.type == TaskType.ONGOING,
                    rules.who_and_state_clause(actor, "decide_period"))
    if not rules.allow_self_verify():
        where = sa.and_(where, TaskPeriod.submitted_by_id != actor.id)
    base = sa.select(TaskPeriod).join(Task, Task.id == TaskPeriod.task_id).where(where)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    rows = db.session.scalars(base.options(joinedload(TaskPeriod.submitted_by), joinedload(TaskPeriod.task))
                              .order_by(TaskPeriod.submitted_at, TaskPeriod.id).limit(limit)).all()
    return list(rows), total or 0
