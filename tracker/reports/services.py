"""Figures of a report's rectification section (DESIGN §3 "Report section") for a unit subtree and a period.

Every figure comes from a handful of grouped queries whose number does not depend on the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from tracker import scope
from tracker.clock import Clock
from tracker.enums import OVERDUE_STATES, ExtensionState, ProblemState, SourceKind, TaskState, TaskType
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.followup.models import (
    PeriodState,
    Recheck,
    RecheckState,
    TaskPeriod,
    TaskRound,
    periods_between,
)
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem, Source
from tracker.review.models import Rating, ReviewDecision
from tracker.supervision.models import Notice, NoticeKind, NoticeTask
from tracker.tasks.models import Extension, Task

NO_RATE = "—"


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal (half up); None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def format_rate(rate: Decimal | None) -> str:
    """"66.7%", or "—" when the rate is undefined."""
    return NO_RATE if rate is None else f"{rate}%"


@dataclass
class BreakdownRow:
    """Problems, measures and closed measures of one source kind or one category."""

    key: str
    label: object  # a lazy, translated string for source kinds; the category's own name otherwise
    problems: int = 0
    measures: int = 0
    closed: int = 0

    @property
    def closure_rate(self) -> str:
        return format_rate(percent(self.closed, self.measures))


@dataclass(slots=True)
class ClosedItem:
    """One closed measure: problem → measure → result, responsible unit, closing date."""

    problem_id: int
    problem_number: str
    problem_description: str
    task_id: int
    measure: str
    result: str | None
    unit_name: str
    closed_on: date
    deadline: date | None

    @property
    def on_time(self) -> bool:
        return self.deadline is None or self.closed_on <= self.deadline


@dataclass(slots=True)
class OpenItem:
    """One measure still being rectified at the end of the period (material for 存在问题/下一步)."""

    problem_id: int
    problem_number: str
    problem_description: str
    task_id: int
    measure: str
    owner_name: str
    unit_name: str
    deadline: date | None
    state: TaskState
    type: TaskType
    overdue_days: int


@dataclass
class RectificationFigures:
    """The rectification section's numbers and items; see `rectification_figures` for definitions."""

    unit: Unit
    date_from: date
    date_to: date
    as_of: date
    problems: int = 0
    problems_closed: int = 0
    measures: int = 0
    closed: int = 0
    closed_on_time: int = 0
    in_progress: int = 0
    overdue: int = 0
    extensions: int = 0
    # Supervision (督办): notices the subtree's units issued in the period, and 签收 of the measures.
    reminder_notices: int = 0  # 提醒函
    supervision_notices: int = 0  # 督办单
    notice_measures: int = 0
    notices_due: int = 0  # replied, or with the reply deadline passed by as_of
    notices_replied_on_time: int = 0
    ack_asked: int = 0
    acknowledged: int = 0
    ack_median_hours: float | None = None
    # 整改成效评价 given at the last step of the review in the period (不满意 returned the measure).
    rated_satisfied: int = 0
    rated_basic: int = 0
    rated_unsatisfied: int = 0
    # 阶段性销号 of the report's ongoing measures with a period.
    periodic_measures: int = 0
    periods_closed: int = 0  # period results verified in the period
    periods_missed: int = 0  # periods that ended in the period (by as_of) with no result
    # 回头看 of the report's measures recorded in the period.
    rechecks_consolidated: int = 0
    rechecks_rebounded: int = 0
    by_source: list[BreakdownRow] = field(default_factory=list)
    by_category: list[BreakdownRow] = field(default_factory=list)
    closed_items: list[ClosedItem] = field(default_factory=list)
    open_items: list[OpenItem] = field(default_factory=list)

    @property
    def closed_late(self) -> int:
        return self.closed - self.closed_on_time

    @property
    def closure_rate(self) -> Decimal | None:
        return percent(self.closed, self.measures)

    @property
    def on_time_rate(self) -> Decimal | None:
        return percent(self.closed_on_time, self.closed)

    @property
    def rated(self) -> int:
        return self.rated_satisfied + self.rated_basic + self.rated_unsatisfied

    @property
    def satisfaction_rate_text(self) -> str:
        """满意和基本满意率: (satisfied + basically satisfied) / rated."""
        return format_rate(percent(self.rated_satisfied + self.rated_basic, self.rated))

    @property
    def notices_total(self) -> int:
        return self.reminder_notices + self.supervision_notices

    @property
    def reply_on_time_rate_text(self) -> str:
        return format_rate(percent(self.notices_replied_on_time, self.notices_due))

    @property
    def ack_rate_text(self) -> str:
        return format_rate(percent(self.acknowledged, self.ack_asked))

    @property
    def ack_median_text(self) -> str:
        """The median time to 签收, in hours below two days, else in days (one decimal)."""
        if self.ack_median_hours is None:
            return ""
        hours = self.ack_median_hours
        if hours < 48:
            return _("%(n)s hours", n=f"{hours:.1f}".rstrip("0").rstrip("."))
        return _("%(n)s days", n=f"{hours / 24:.1f}".rstrip("0").rstrip("."))

    @property
    def closure_rate_text(self) -> str:
        return format_rate(self.closure_rate)

    @property
    def on_time_rate_text(self) -> str:
        return format_rate(self.on_time_rate)

    @property
    def closed_groups(self) -> list[tuple[ClosedItem, list[ClosedItem]]]:
        """Closed items grouped by problem, problems in order of their first closing (for 1.（1）)."""
        return _group(self.closed_items)

    @property
    def open_groups(self) -> list[tuple[OpenItem, list[OpenItem]]]:
        return _group(self.open_items)

    def to_dict(self) -> dict:
        """JSON-ready figures and items (for the API)."""
        def rate(value):
            return float(value) if value is not None else None

        satisfied = self.rated_satisfied + self.rated_basic

        def rows(items):
            return [{"key": r.key, "label": str(r.label), "problems": r.problems, "measures": r.measures,
                     "closed": r.closed} for r in items]

        return {
            "unit": {"id": self.unit.id, "code": self.unit.code, "name": self.unit.name},
            "from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
            "as_of": self.as_of.isoformat(),
            "problems": self.problems, "problems_closed": self.problems_closed, "measures": self.measures,
            "closed": self.closed, "closure_rate": rate(self.closure_rate),
            "closed_on_time": self.closed_on_time, "on_time_rate": rate(self.on_time_rate),
            "in_progress": self.in_progress, "overdue": self.overdue, "extensions": self.extensions,
            "notices": {"reminder": self.reminder_notices, "supervision": self.supervision_notices,
                        "measures": self.notice_measures, "due": self.notices_due,
                        "replied_on_time": self.notices_replied_on_time,
                        "reply_on_time_rate": rate(percent(self.notices_replied_on_time, self.notices_due))},
            "acknowledgement": {"asked": self.ack_asked, "acknowledged": self.acknowledged,
                                "rate": rate(percent(self.acknowledged, self.ack_asked)),
                                "median_hours": self.ack_median_hours},
            "periods": {"measures": self.periodic_measures, "closed": self.periods_closed,
                        "missed": self.periods_missed},
            "rechecks": {"consolidated": self.rechecks_consolidated, "rebounded": self.rechecks_rebounded},
            "ratings": {"satisfied": self.rated_satisfied, "basic": self.rated_basic,
                        "unsatisfied": self.rated_unsatisfied,
                        "satisfaction_rate": rate(percent(satisfied, self.rated))},
            "by_source": rows(self.by_source), "by_category": rows(self.by_category),
            "closed_items": [
                {"problem_id": i.problem_id, "problem_number": i.problem_number,
                 "problem_description": i.problem_description, "task_id": i.task_id, "measure": i.measure,
                 "result": i.result, "unit": i.unit_name, "closed_on": i.closed_on.isoformat(),
                 "deadline": i.deadline.isoformat() if i.deadline else None, "on_time": i.on_time}
                for i in self.closed_items
            ],
            "open_items": [
                {"problem_id": i.problem_id, "problem_number": i.problem_number,
                 "problem_description": i.problem_description, "task_id": i.task_id, "measure": i.measure,
                 "owner": i.owner_name, "unit": i.unit_name, "state": i.state.value,
                 "deadline": i.deadline.isoformat() if i.deadline else None, "overdue_days": i.overdue_days}
                for i in self.open_items
            ],
        }


def _group(items):
    groups: dict[int, tuple] = {}
    for item in items:
        groups.setdefault(item.problem_id, (item, []))[1].append(item)
    return list(groups.values())


# --- the figures ------------------------------------------------------------------------------


def check_period(date_from: date | None, date_to: date | None) -> None:
    """Both dates given and in order, or ValidationFailed naming the field."""
    errors: dict = {}
    if date_from is None:
        errors["date_from"] = [_l("Give the first day of the period.")]
    if date_to is None:
        errors["date_to"] = [_l("Give the last day of the period.")]
    # Years far outside any real report overflow the time-zone arithmetic of the period bounds.
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and not 1900 <= value.year <= 2999:
            errors[name] = [_l("Choose a date between 1900 and 2999.")]
    if not errors and date_from > date_to:
        errors["date_to"] = [_l("The end of the period cannot be before its start.")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)


def check_unit(actor: User | None, unit: Unit | None) -> None:
    """The actor must cover the unit (actor None: a command run by the operator, everything allowed)."""
    if unit is None or (actor is not None and not scope.covers(actor, unit)):
        raise PermissionDenied(_l("This unit is outside your scope."))


def rectification_figures(actor: User | None, unit: Unit, date_from: date, date_to: date,
                          clock: Clock, *, items: bool = True) -> RectificationFigures:
    """The figures of the rectification section for `unit`'s subtree and the period [date_from, date_to].

    Definitions (every date is a local date in TIMEZONE; both ends of the period are included):
    - problems: problems whose unit where found OR lead unit lies in the subtree, found_on in the
      period, and readable by the actor (scope.problem_clause). Everything below is about these.
    - problems_closed: of those, problems whose derived state is closed, with closed_on in the period.
    - measures: the tasks of those problems that are not cancelled and that the actor may read
      (scope.task_clause).
    - closed (销号): measures in state closed with closed_on in the period; closure rate = closed /
      measures. A measure closed after date_to counts as not closed: the report describes the period.
    - closed_on_time: closed measures with no deadline (ongoing) or closed_on ≤ deadline (the
      deadline in force, i.e. after approved extensions); on-time rate = closed_on_time / closed.
    - in_progress: measures − closed, i.e. measures still being rectified at the end of the period.
    - overdue: measures matching Task.overdue_clause(as_of), as_of = min(date_to, today): deadline
      before as_of, still assigned or in progress (on the current state), not ongoing.
    - ratings: 整改成效评价 given to those measures at the last step of their review in the period
      (满意 and 基本满意 closed them, 不满意 returned them); satisfaction rate = (满意 + 基本满意) / rated.
    - periods: the ongoing measures with a period (阶段性销号) among them; their period results verified
      (decided_on) in the period; and their periods that ended in the period before as_of with no
      result submitted or verified (missed).
    - rechecks: re-checks (回头看) of those measures recorded in the period, consolidated or rebounded.
    - extensions: approved Extension rows of those problems' tasks (any state) decided in the period.
    - by_source / by_category: problems, measures and closed measures per source kind / category.
    - closed_items: the closed measures, by closing date; open_items: the in-progress measures, by
      problem number, with the days overdue as of as_of. Both stay empty with `items=False` (the
      dashboard shows counts only: at a province's root the lists are most of the table).
    Rates are percentages with one decimal, None ("—") when the divisor is 0.
    """
    check_unit(actor, unit)
    check_period(date_from, date_to)
    figures = RectificationFigures(unit=unit, date_from=date_from, date_to=date_to,
                                   as_of=min(date_to, clock.today()))
    problem_ids, measure_filter, closed = report_clauses(actor, unit, date_from, date_to)
    _count_problems(figures, problem_ids)
    _count_measures(figures, measure_filter, closed)
    figures.extensions = _count_extensions(problem_ids, date_from, date_to, clock)
    _count_notices(figures, unit, date_from, date_to, clock)
    _count_acknowledgements(figures, measure_filter)
    _count_ratings(figures, measure_filter, date_from, date_to, clock)
    _count_periods(figures, measure_filter, clock)
    _count_rechecks(figures, measure_filter)
    if items:
        figures.closed_items = _closed_items(measure_filter, closed)
        figures.open_items = _open_items(sa.and_(measure_filter, sa.not_(closed)), figures.as_of)
    return figures


def report_clauses(actor: User | None, unit: Unit, date_from: date, date_to: date):
    """(problem ids subquery, measure condition, closed condition) of the report, as defined above.

    Public so that other views of the same figures (the dashboard) count exactly the same rows.
    """
    problem_ids = _problem_ids(actor, unit, date_from, date_to)
    measure_filter = sa.and_(Task.problem_id.in_(problem_ids), Task.state != TaskState.CANCELLED,
                             _task_scope(actor))
    return problem_ids, measure_filter, _closed_clause(date_from, date_to)


def _problem_ids(actor: User | None, unit: Unit, date_from: date, date_to: date):
    """Subquery: the problems of the report."""
    units = scope.subtree_ids(unit)
    stmt = sa.select(Problem.id).where(
        sa.or_(Problem.unit_id.in_(units), Problem.lead_unit_id.in_(units)),
        Problem.found_on.between(date_from, date_to),
    )
    if actor is not None:
        stmt = stmt.where(scope.problem_clause(actor))
    return stmt.scalar_subquery()


def _task_scope(actor: User | None):
    return sa.true() if actor is None else scope.task_clause(actor)


class Closed:
    """"Closed out in the period" as SQL over Task rows: its current closure, or an earlier round's (a
    rebound reopened the measure, 回头看) — so a rebound keeps the first closure in every report of its
    period. Carries the period so that "on time" can be asked of either closure."""

    def __init__(self, date_from: date, date_to: date):
        self.date_from, self.date_to = date_from, date_to
        self.current = sa.and_(Task.state == TaskState.CLOSED, Task.closed_on.between(date_from, date_to))

    def _earlier(self, *more):
        return sa.exists().where(TaskRound.task_id == Task.id,
                                 TaskRound.closed_on.between(self.date_from, self.date_to), *more)

    def __clause_element__(self):
        return sa.or_(self.current, self._earlier())

    def on_time(self):
        current = sa.and_(self.current, sa.or_(Task.deadline.is_(None), Task.closed_on <= Task.deadline))
        in_time = sa.or_(TaskRound.deadline.is_(None), TaskRound.closed_on <= TaskRound.deadline)
        earlier = self._earlier(in_time)
        return sa.or_(current, sa.and_(sa.not_(self.current), earlier))


def _closed_clause(date_from: date, date_to: date) -> Closed:
    return Closed(date_from, date_to)


def on_time_clause(closed: Closed):
    """Closed on time: closed in the period and no deadline (ongoing) or closed_on ≤ the deadline in force
    (the round's own deadline for an earlier round's closure)."""
    return closed.on_time()


def _count(condition):
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END): a conditional count inside a grouped query."""
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _row(rows: dict, key: str, label) -> BreakdownRow:
    return rows.setdefault(key, BreakdownRow(key=key, label=label))


def _count_problems(figures: RectificationFigures, problem_ids) -> None:
    """One grouped query: problems (and fully closed problems) per source kind and category."""
    problem_closed = sa.and_(Problem.state == ProblemState.CLOSED,
                             Problem.closed_on.between(figures.date_from, figures.date_to))
    stmt = (
        sa.select(Source.kind, Category.id, Category.name, Category.sort_order, sa.func.count(Problem.id),
                  _count(problem_closed))
        .join(Source, Problem.source_id == Source.id)
        .join(Category, Problem.category_id == Category.id)
        .where(Problem.id.in_(problem_ids))
        .group_by(Source.kind, Category.id, Category.name, Category.sort_order)
    )
    sources: dict[str, BreakdownRow] = {}
    categories: dict[str, BreakdownRow] = {}
    order: dict[str, tuple] = {}
    for kind, category_id, category_name, sort_order, n, n_closed in db.session.execute(stmt):
        figures.problems += n
        figures.problems_closed += int(n_closed)
        _row(sources, kind.value, kind.label).problems += n
        _row(categories, str(category_id), category_name).problems += n
        order[str(category_id)] = (sort_order, category_name)
    kinds = [k.value for k in SourceKind]
    figures.by_source = sorted(sources.values(), key=lambda r: kinds.index(r.key))
    figures.by_category = sorted(categories.values(), key=lambda r: order[r.key])


def _count_measures(figures: RectificationFigures, measure_filter, closed) -> None:
    """One grouped query: measures, closed, closed on time and overdue per source kind and category."""
    on_time = on_time_clause(closed)
    stmt = (
        sa.select(Source.kind, Problem.category_id, sa.func.count(Task.id), _count(closed), _count(on_time),
                  _count(Task.overdue_clause(figures.as_of)))
        .join(Problem, Task.problem_id == Problem.id)
        .join(Source, Problem.source_id == Source.id)
        .where(measure_filter)
        .group_by(Source.kind, Problem.category_id)
    )
    sources = {r.key: r for r in figures.by_source}
    categories = {r.key: r for r in figures.by_category}
    for kind, category_id, n, n_closed, n_on_time, n_overdue in db.session.execute(stmt):
        n_closed, n_on_time, n_overdue = int(n_closed), int(n_on_time), int(n_overdue)
        figures.measures += n
        figures.closed += n_closed
        figures.closed_on_time += n_on_time
        figures.overdue += n_overdue
        for row in (sources[kind.value], categories[str(category_id)]):
            row.measures += n
            row.closed += n_closed
    figures.in_progress = figures.measures - figures.closed


def _local_bounds(date_from: date, date_to: date, clock: Clock) -> tuple[datetime, datetime]:
    """The period as UTC instants [start, end): local midnights, so a timestamp's local date decides."""
    start = datetime.combine(date_from, time.min, tzinfo=clock.tz)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=clock.tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _count_extensions(problem_ids, date_from: date, date_to: date, clock: Clock) -> int:
    start, end = _local_bounds(date_from, date_to, clock)
    stmt = (
        sa.select(sa.func.count(Extension.id))
        .join(Task, Extension.task_id == Task.id)
        .where(Task.problem_id.in_(problem_ids), Extension.state == ExtensionState.APPROVED,
               Extension.decided_at >= start, Extension.decided_at < end)
    )
    return db.session.scalar(stmt) or 0


def _local_date(moment: datetime, clock: Clock) -> date:
    """The local date of a stored moment (SQLite hands back naive UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(clock.tz).date()


def _count_notices(figures: RectificationFigures, unit: Unit, date_from: date, date_to: date,
                   clock: Clock) -> None:
    """Notices issued by the subtree's units in the period: by kind, the measures they cover, and
    replies on time among those replied or past their reply deadline."""
    issued = (sa.select(Notice.id).join(Unit, Unit.id == Notice.issuing_unit_id)
              .where(Unit.path.startswith(unit.path, autoescape=True),
                     Notice.issued_on >= date_from, Notice.issued_on <= date_to))
    # One query: each issued notice with its measures (a period holds tens of notices, not thousands).
    rows = db.session.execute(
        sa.select(Notice.id, Notice.kind, Notice.replied_at, Notice.reply_due_on, NoticeTask.task_id)
        .join(NoticeTask, NoticeTask.notice_id == Notice.id).where(Notice.id.in_(issued))).all()
    notices = {r.id: r for r in rows}
    kinds = [r.kind for r in notices.values()]
    figures.reminder_notices = kinds.count(NoticeKind.REMINDER)
    figures.supervision_notices = kinds.count(NoticeKind.SUPERVISION)
    figures.notice_measures = len({r.task_id for r in rows})
    due, on_time = 0, 0
    for r in notices.values():
        if r.replied_at is None and r.reply_due_on >= figures.as_of:
            continue  # not replied and not yet due: neither on time nor late
        due += 1
        if r.replied_at is not None and _local_date(r.replied_at, clock) <= r.reply_due_on:
            on_time += 1
    figures.notices_due, figures.notices_replied_on_time = due, on_time


def _count_acknowledgements(figures: RectificationFigures, measure_filter) -> None:
    """签收 of the report's measures that were asked for one: how many, and the median time to it."""
    asked = (sa.select(Task.assigned_at, Task.acknowledged_at)
             .where(measure_filter, Task.ack_required == sa.true()))
    rows = db.session.execute(asked).all()
    figures.ack_asked = len(rows)
    waits = sorted((ack - assigned).total_seconds() / 3600 for assigned, ack in rows
                   if ack is not None and assigned is not None)
    figures.acknowledged = sum(1 for _, ack in rows if ack is not None)
    if waits:
        middle = len(waits) // 2
        figures.ack_median_hours = (waits[middle] if len(waits) % 2
                                    else (waits[middle - 1] + waits[middle]) / 2)


def _count_ratings(figures: RectificationFigures, measure_filter, date_from: date, date_to: date,
                   clock: Clock) -> None:
    start, end = _local_bounds(date_from, date_to, clock)
    rows = db.session.execute(
        sa.select(ReviewDecision.rating, sa.func.count())
        .where(ReviewDecision.rating.is_not(None), ReviewDecision.decided_at >= start,
               ReviewDecision.decided_at < end,
               ReviewDecision.task_id.in_(sa.select(Task.id).where(measure_filter)))
        .group_by(ReviewDecision.rating)).all()
    counts = dict(rows)
    figures.rated_satisfied = counts.get(Rating.SATISFIED, 0)
    figures.rated_basic = counts.get(Rating.BASIC, 0)
    figures.rated_unsatisfied = counts.get(Rating.UNSATISFIED, 0)


def _count_periods(figures: RectificationFigures, measure_filter, clock: Clock) -> None:
    ongoing = db.session.execute(sa.select(Task.id, Task.period, Task.created_at).where(
        measure_filter, Task.type == TaskType.ONGOING, Task.period.is_not(None))).all()
    figures.periodic_measures = len(ongoing)
    if not ongoing:
        return
    ids = [r.id for r in ongoing]
    results = db.session.execute(sa.select(TaskPeriod.task_id, TaskPeriod.period_start, TaskPeriod.state,
                                           TaskPeriod.decided_on)
                                 .where(TaskPeriod.task_id.in_(ids), TaskPeriod.state != PeriodState.REJECTED)
                                 ).all()
    live = {(r.task_id, r.period_start) for r in results}
    figures.periods_closed = sum(1 for r in results if r.state == PeriodState.VERIFIED
                                 and figures.date_from <= r.decided_on <= figures.date_to)
    missed = 0
    for r in ongoing:
        first = _local_date(r.created_at, clock)
        for start, end in periods_between(r.period, first, figures.as_of):
            if figures.date_from <= end < figures.as_of and (r.id, start) not in live:
                missed += 1
    figures.periods_missed = missed


def _count_rechecks(figures: RectificationFigures, measure_filter) -> None:
    rows = dict(db.session.execute(
        sa.select(Recheck.state, sa.func.count(Recheck.id))
        .where(Recheck.task_id.in_(sa.select(Task.id).where(measure_filter)),
               Recheck.state.in_([RecheckState.CONSOLIDATED, RecheckState.REBOUNDED]),
               Recheck.decided_on.between(figures.date_from, figures.date_to))
        .group_by(Recheck.state)).all())
    figures.rechecks_consolidated = rows.get(RecheckState.CONSOLIDATED, 0)
    figures.rechecks_rebounded = rows.get(RecheckState.REBOUNDED, 0)


def _plain_rows(stmt):
    """The rows of a select of columns through the session's connection (already flushed by the counts
    above): the ORM's result handling adds nothing to plain columns and took half the time of a report's
    50k listed items."""
    return db.session.connection().execute(stmt)


def _closed_items(measure_filter, closed: Closed) -> list[ClosedItem]:
    """The closures of the period: current ones, and earlier rounds' (with the result they had then)."""
    columns = (Problem.id, Problem.number, Problem.description, Task.id, Task.measure)
    current = (sa.select(*columns, Task.result, Unit.name, Task.closed_on, Task.deadline)
               .select_from(Task).join(Problem, Task.problem_id == Problem.id)
               .join(Unit, Task.unit_id == Unit.id).where(measure_filter, closed.current))
    earlier = (sa.select(*columns, TaskRound.result, Unit.name, TaskRound.closed_on, TaskRound.deadline)
               .select_from(TaskRound).join(Task, Task.id == TaskRound.task_id)
               .join(Problem, Task.problem_id == Problem.id).join(Unit, Task.unit_id == Unit.id)
               .where(measure_filter, TaskRound.closed_on.between(closed.date_from, closed.date_to),
                      sa.not_(closed.current)))
    rows = [ClosedItem(*row) for stmt in (current, earlier) for row in _plain_rows(stmt)]
    # A measure closed twice in the period (rebounded, closed again) is listed once, as it is now.
    seen, items = set(), []
    for item in sorted(rows, key=lambda i: (i.closed_on, i.problem_number, i.task_id)):
        if item.task_id not in seen:
            seen.add(item.task_id)
            items.append(item)
    return items


def _open_items(condition, as_of: date) -> list[OpenItem]:
    stmt = (
        sa.select(Problem.id, Problem.number, Problem.description, Task.id, Task.measure, User.name,
                  Unit.name, Task.deadline, Task.state, Task.type)
        .select_from(Task)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .join(User, Task.owner_id == User.id)
        .where(condition)
        .order_by(Problem.number, Task.id)
    )
    items = []
    for row in _plain_rows(stmt):
        deadline, state, type_ = row[7], row[8], row[9]
        # The same rule as Task.overdue_clause, so the list agrees with the overdue figure.
        overdue = (deadline is not None and deadline < as_of and state in OVERDUE_STATES
                   and type_ != TaskType.ONGOING)
        items.append(OpenItem(*row, overdue_days=(as_of - deadline).days if overdue else 0))
    return items
