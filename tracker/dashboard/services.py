"""The dashboard's figures: the report's rectification figures plus breakdowns by unit, leader and month.

Every breakdown counts the same rows as the report (`tracker.reports.services.report_clauses`), so its
rows add up to the report's headline figures. A fixed number of grouped queries, however many units,
problems or measures there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from tracker.clock import Clock
from tracker.enums import ProblemState
from tracker.extensions import db
from tracker.followup.models import TaskRound
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reports.services import (
    RectificationFigures,
    on_time_clause,
    percent,
    rectification_figures,
    report_clauses,
)
from tracker.tasks.models import Task

CHILD, ITSELF, ELSEWHERE = "child", "itself", "elsewhere"
MAX_MONTHS = 24  # a longer period is shown by year, so a chart never has more than ~24 points


@dataclass
class UnitRow:
    """The report's measures whose responsible unit (Task.unit) lies in one part of the chosen unit.

    kind CHILD: the subtree of one direct child unit; ITSELF: the chosen unit itself; ELSEWHERE: a unit
    outside the subtree (a problem of the subtree whose measure another unit carries out).
    """

    kind: str
    unit: Unit | None
    measures: int = 0
    closed: int = 0
    closed_on_time: int = 0
    overdue: int = 0

    @property
    def closure_rate(self) -> Decimal | None:
        return percent(self.closed, self.measures)

    @property
    def on_time_rate(self) -> Decimal | None:
        return percent(self.closed_on_time, self.closed)


@dataclass
class LeaderRow:
    """Overdue measures of the problems one responsible leader (责任领导) answers for; None: no leader."""

    leader_id: int | None
    name: str | None
    overdue: int


@dataclass
class PeriodRow:
    """One month (or year) of the period, clipped to the period."""

    start: date
    end: date
    label: str
    problems_found: int = 0
    problems_closed: int = 0
    measures_closed: int = 0


@dataclass
class Dashboard:
    """The report's figures and the dashboard's breakdowns of them; see `dashboard_figures`."""

    figures: RectificationFigures
    by_unit: list[UnitRow] = field(default_factory=list)
    overdue_by_leader: list[LeaderRow] = field(default_factory=list)
    by_period: list[PeriodRow] = field(default_factory=list)
    by_year: bool = False
    kept: Kept | None = None  # set when the figures are (or become) a snapshot (tracker.dashboard.snapshots)


@dataclass(frozen=True)
class Kept:
    """How old the figures shown are: computed at `computed_at` (UTC) in `took_ms`; `recomputing`: older
    than the snapshots' lifetime, served while another request counts them again."""

    computed_at: datetime
    took_ms: int
    recomputing: bool = False


def dashboard_figures(actor: User | None, unit: Unit, date_from: date, date_to: date,
                      clock: Clock) -> Dashboard:
    """The figures of `unit`'s subtree for [date_from, date_to], as the actor may see them.

    Definitions (the report's, see `rectification_figures`, whose checks apply: PermissionDenied for a
    unit out of scope, ValidationFailed for a bad period):
    - figures: exactly `rectification_figures(actor, unit, date_from, date_to, clock)`, without its
      item lists, which the dashboard does not show.
    - by_unit: the report's measures split by their responsible unit (Task.unit) into the direct child
      units' subtrees (every child listed, in tree order, even with nothing), then the chosen unit itself
      and units outside the subtree (each listed only when it has measures). Per row: measures, closed
      (销号 in the period), closed on time, overdue as of `as_of`, with the report's rates; the rows add
      up to the report's measures, closed, closed_on_time and overdue.
    - overdue_by_leader: the report's overdue measures by their problem's responsible leader, most
      first; they add up to the report's overdue figure.
    - by_period: per month (per year when the period spans more than MAX_MONTHS months): the report's
      problems found, its problems closed (problem closed_on in the month) and its measures closed;
      they add up to problems, problems_closed and closed.
    """
    figures = rectification_figures(actor, unit, date_from, date_to, clock, items=False)
    problem_ids, measures, closed = report_clauses(actor, unit, date_from, date_to)
    board = Dashboard(figures=figures, by_year=_month_count(date_from, date_to) > MAX_MONTHS)
    board.by_unit = _by_unit(unit, measures, closed, figures.as_of)
    board.overdue_by_leader = _overdue_by_leader(measures, figures.as_of)
    board.by_period = _by_period(problem_ids, measures, closed, date_from, date_to, board.by_year)
    return board


def _count_if(condition):
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END): a conditional count inside a grouped query."""
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# --- by unit ------------------------------------------------------------------------------------


def child_of(top: Unit, path: str) -> int | str:
    """The id of the direct child of `top` whose subtree holds the unit at `path`, or ITSELF/ELSEWHERE.

    Paths are "/1/4/9/": the first id after top's own path names the child.
    """
    if not path.startswith(top.path):
        return ELSEWHERE
    rest = path[len(top.path):]
    return int(rest.split("/", 1)[0]) if rest else ITSELF


def _by_unit(top: Unit, measures, closed, as_of: date) -> list[UnitRow]:
    """Two queries: the measures grouped by their unit, and the chosen unit's children."""
    stmt = (
        sa.select(Unit.path, sa.func.count(Task.id), _count_if(closed), _count_if(on_time_clause(closed)),
                  _count_if(Task.overdue_clause(as_of)))
        .select_from(Task)
        .join(Unit, Task.unit_id == Unit.id)
        .where(measures)
        .group_by(Unit.id, Unit.path)
    )
    children = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id == top.id).order_by(Unit.sort_order, Unit.id)
    ).all()
    rows: dict[int | str, UnitRow] = {c.id: UnitRow(CHILD, c) for c in children}
    rows[ITSELF] = UnitRow(ITSELF, top)
    rows[ELSEWHERE] = UnitRow(ELSEWHERE, None)
    for path, n, n_closed, n_on_time, n_overdue in db.session.execute(stmt):
        # A child created after the children were read is folded into "elsewhere" rather than lost.
        row = rows.get(child_of(top, path)) or rows[ELSEWHERE]
        row.measures += n
        row.closed += int(n_closed)
        row.closed_on_time += int(n_on_time)
        row.overdue += int(n_overdue)
    return [r for r in rows.values() if r.kind == CHILD or r.measures]


# --- by responsible leader ----------------------------------------------------------------------


def _overdue_by_leader(measures, as_of: date) -> list[LeaderRow]:
    """One query: overdue measures grouped by their problem's responsible leader."""
    stmt = (
        sa.select(Problem.responsible_leader_id, User.name, sa.func.count(Task.id))
        .select_from(Task)
        .join(Problem, Task.problem_id == Problem.id)
        .outerjoin(User, Problem.responsible_leader_id == User.id)
        .where(measures, Task.overdue_clause(as_of))
        .group_by(Problem.responsible_leader_id, User.name)
    )
    rows = [LeaderRow(leader_id, name, n) for leader_id, name, n in db.session.execute(stmt)]
    # Most overdue first; "no responsible leader" last among equals.
    return sorted(rows, key=lambda r: (-r.overdue, r.leader_id is None, r.name or ""))


# --- by month -----------------------------------------------------------------------------------


def _month_count(date_from: date, date_to: date) -> int:
    return (date_to.year - date_from.year) * 12 + date_to.month - date_from.month + 1


def period_rows(date_from: date, date_to: date, by_year: bool) -> list[PeriodRow]:
    """The months (or years) of the period, the first and last clipped to it."""
    rows = []
    start = date_from
    while start <= date_to:
        if by_year:
            following = date(start.year + 1, 1, 1)
            label = f"{start.year}"
        else:
            following = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
            label = f"{start.year}-{start.month:02d}"
        end = min(date.fromordinal(following.toordinal() - 1), date_to)
        rows.append(PeriodRow(start=start, end=end, label=label))
        start = following
    return rows


def _by_period(problem_ids, measures, closed, date_from: date, date_to: date,
               by_year: bool) -> list[PeriodRow]:
    """Three queries grouped by day (portable SQL), summed into months or years here."""
    rows = period_rows(date_from, date_to, by_year)
    index: dict[tuple, PeriodRow] = {_key(r.start, by_year): r for r in rows}
    problem_closed = sa.and_(Problem.id.in_(problem_ids), Problem.state == ProblemState.CLOSED,
                             Problem.closed_on.between(date_from, date_to))
    counts = {
        "problems_found": sa.select(Problem.found_on, sa.func.count(Problem.id))
        .where(Problem.id.in_(problem_ids)).group_by(Problem.found_on),
        "problems_closed": sa.select(Problem.closed_on, sa.func.count(Problem.id))
        .where(problem_closed).group_by(Problem.closed_on),
        "measures_closed": sa.select(Task.closed_on, sa.func.count(Task.id))
        .where(measures, closed.current).group_by(Task.closed_on),
        # Closures of earlier rounds (回头看 found them rebounded) count on the day they were made.
        "earlier_closed": sa.select(TaskRound.closed_on, sa.func.count(sa.distinct(Task.id)))
        .join(Task, Task.id == TaskRound.task_id)
        .where(measures, TaskRound.closed_on.between(date_from, date_to), sa.not_(closed.current))
        .group_by(TaskRound.closed_on),
    }
    for name, stmt in counts.items():
        field = "measures_closed" if name == "earlier_closed" else name
        for day, n in db.session.execute(stmt):
            row = index[_key(day, by_year)]
            setattr(row, field, getattr(row, field) + n)
    return rows


def _key(day: date, by_year: bool) -> tuple:
    return (day.year,) if by_year else (day.year, day.month)
