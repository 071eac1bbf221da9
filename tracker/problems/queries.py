"""Reading problems: the filtered, scoped, sorted query behind the problem and responsibility lists.

Shared by the web lists, the API and the ledger export, so a filter means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from tracker import scope, textsearch
from tracker.audit.models import AuditEvent
from tracker.clock import Clock
from tracker.enums import ProblemState, SourceKind, TaskState
from tracker.extensions import MAX_ID, db
from tracker.org.models import Unit, User
from tracker.pagination import IdsFirstPagination
from tracker.problems.models import Category, Problem, Source
from tracker.tasks.models import Task

SORT_KEYS = ("number", "found_on", "state", "unit", "category", "source")
DEFAULT_SORT = "-number"
TRUE_WORDS = {"1", "true", "yes", "on", "y"}


def _int(raw) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


def _date(raw) -> date | None:
    try:
        return date.fromisoformat(str(raw).strip())
    except (TypeError, ValueError):
        return None


def _enum(enum_cls, raw):
    try:
        return enum_cls(str(raw).strip())
    except (TypeError, ValueError):
        return None


@dataclass
class ProblemFilters:
    """What a problem list is narrowed to; every field None/False means "no condition"."""

    state: ProblemState | None = None
    unit_id: int | None = None
    source_id: int | None = None
    source_kind: SourceKind | None = None
    category_id: int | None = None
    leader_id: int | None = None
    person_id: int | None = None
    found_after: date | None = None
    found_before: date | None = None
    q: str | None = None
    overdue: bool = False

    # query-string name of each field (the same names the API accepts)
    ARG_NAMES = {
        "state": "state", "unit_id": "unit", "source_id": "source", "source_kind": "source_kind",
        "category_id": "category", "leader_id": "leader", "person_id": "person",
        "found_after": "found_after", "found_before": "found_before", "q": "q", "overdue": "overdue",
    }

    @classmethod
    def from_args(cls, args: Mapping) -> ProblemFilters:
        """Parse request arguments; junk in any of them is ignored, never an error."""
        get = args.get
        a = cls.ARG_NAMES
        return cls(
            state=_enum(ProblemState, get(a["state"])),
            unit_id=_int(get(a["unit_id"])),
            source_id=_int(get(a["source_id"])),
            source_kind=_enum(SourceKind, get(a["source_kind"])),
            category_id=_int(get(a["category_id"])),
            leader_id=_int(get(a["leader_id"])),
            person_id=_int(get(a["person_id"])),
            found_after=_date(get(a["found_after"])),
            found_before=_date(get(a["found_before"])),
            q=textsearch.query_text(get(a["q"])),
            overdue=str(get(a["overdue"]) or "").strip().lower() in TRUE_WORDS,
        )

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) not in (None, False) for f in fields(self))


def parse_sort(raw: str | None) -> tuple[str, bool]:
    """("key", descending) from "key" / "-key"; anything outside SORT_KEYS gives the default."""
    raw = str(raw or "").strip()
    key = raw.lstrip("-")
    if key not in SORT_KEYS:
        raw, key = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    return key, raw.startswith("-")


def _unit_condition(unit_id: int):
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        return sa.false()
    units = scope.subtree_ids(unit)
    return sa.or_(Problem.unit_id.in_(units), Problem.lead_unit_id.in_(units))


def filter_conditions(filters: ProblemFilters, today: date) -> list:
    """The WHERE conditions for `filters` (scope is added by problem_query)."""
    f = filters
    conds = []
    if f.state is not None:
        conds.append(Problem.state == f.state)
    if f.unit_id is not None:
        conds.append(_unit_condition(f.unit_id))
    if f.source_id is not None:
        conds.append(Problem.source_id == f.source_id)
    if f.source_kind is not None:
        conds.append(Problem.source_id.in_(sa.select(Source.id).where(Source.kind == f.source_kind)))
    if f.category_id is not None:
        conds.append(Problem.category_id == f.category_id)
    if f.leader_id is not None:
        conds.append(Problem.responsible_leader_id == f.leader_id)
    if f.person_id is not None:
        conds.append(Problem.responsible_person_id == f.person_id)
    if f.found_after is not None:
        conds.append(Problem.found_on >= f.found_after)
    if f.found_before is not None:
        conds.append(Problem.found_on <= f.found_before)
    if f.q:
        pattern = textsearch.contains(f.q)
        conds.append(sa.or_(Problem.number.ilike(pattern, escape=textsearch.ESCAPE),
                            Problem.description.ilike(pattern, escape=textsearch.ESCAPE)))
    if f.overdue:
        conds.append(sa.exists().where(Task.problem_id == Problem.id, Task.overdue_clause(today)))
    return conds


def _sorted(stmt, sort: str | None):
    key, desc = parse_sort(sort)
    # A joined table's sort ends with its id: then its rows are walked in an index's order and each
    # one's problems read off their own index, instead of one sort of every match (at 1M measures on
    # SQLite, by source: 1.0 s).
    if key == "unit":
        found_unit = aliased(Unit)
        stmt = stmt.join(found_unit, Problem.unit_id == found_unit.id)
        columns = [found_unit.path, found_unit.id]  # a path names one unit
    elif key == "category":
        stmt = stmt.join(Category, Problem.category_id == Category.id)
        columns = [Category.sort_order, Category.name, Category.id]
    elif key == "source":
        stmt = stmt.join(Source, Problem.source_id == Source.id)
        columns = [Source.held_on, Source.name, Source.id]
    else:
        columns = [getattr(Problem, key)]
    # The id breaks ties so paging is stable.
    columns.append(Problem.id)
    return stmt.order_by(*(c.desc() if desc else c.asc() for c in columns))


def problem_query(actor: User, clock: Clock, filters: ProblemFilters | None = None,
                  sort: str | None = None) -> sa.Select:
    """Problems `actor` may read, narrowed by `filters`, ordered by `sort` ("key" or "-key")."""
    stmt = sa.select(Problem).where(scope.problem_clause(actor))
    stmt = stmt.where(*filter_conditions(filters or ProblemFilters(), clock.today()))
    return _sorted(stmt, sort)


@dataclass
class TaskCounts:
    """A problem's measures at a glance; `total` leaves out cancelled measures."""

    total: int = 0
    closed: int = 0
    overdue: int = 0
    cancelled: int = 0


def task_counts(problem_ids, today: date) -> dict[int, TaskCounts]:
    """Measure counts per problem, for any number of problems, in one grouped query."""
    ids = list(problem_ids)
    if not ids:
        return {}

    def count_if(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    rows = db.session.execute(
        sa.select(
            Task.problem_id,
            count_if(Task.state != TaskState.CANCELLED),
            count_if(Task.state == TaskState.CLOSED),
            count_if(Task.overdue_clause(today)),
            count_if(Task.state == TaskState.CANCELLED),
        )
        .where(Task.problem_id.in_(ids))
        .group_by(Task.problem_id)
    ).all()
    counts = {pid: TaskCounts() for pid in ids}
    for pid, total, closed, overdue, cancelled in rows:
        counts[pid] = TaskCounts(int(total), int(closed), int(overdue), int(cancelled))
    return counts


# --- the problem page -------------------------------------------------------------------------


def visible_tasks(problem: Problem, actor: User) -> list[Task]:
    """The measures of a problem that `actor` may read, with owner and unit loaded."""
    return list(db.session.scalars(
        sa.select(Task)
        .where(Task.problem_id == problem.id, scope.task_clause(actor))
        .options(selectinload(Task.owner), selectinload(Task.unit))
        .order_by(Task.id)
    ))


def problem_history(problem: Problem) -> list[AuditEvent]:
    """The problem's own audit events (its measures have their own timelines), oldest first."""
    return list(db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.problem_id == problem.id, AuditEvent.object_type == Problem.__tablename__)
        .options(selectinload(AuditEvent.actor))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ))


# --- the problem list page: plain rows -----------------------------------------------------------


class Named(NamedTuple):
    name: str


class SourceRef(NamedTuple):
    kind: SourceKind
    name: str


class ProblemRow:
    """One line of 问题清单: the values the page shows, not ORM objects (50 Problems with their
    source, category and unit built in the ORM cost more than the page's queries)."""

    def __init__(self, row) -> None:
        self.id, self.number, self.description, self.found_on, self.state = row[:5]
        self.source = SourceRef(row[5], row[6])
        self.category, self.unit = Named(row[7]), Named(row[8])
        self.rebounded_at = row[9]


_PROBLEM_ROWS = (sa.select(Problem.id, Problem.number, Problem.description, Problem.found_on, Problem.state,
                           Source.kind, Source.name, Category.name, Unit.name, Problem.rebounded_at)
                 .join(Source, Source.id == Problem.source_id)
                 .join(Category, Category.id == Problem.category_id)
                 .join(Unit, Unit.id == Problem.unit_id))


def _problem_rows(conn: sa.Connection, ids: list[int]) -> dict[int, ProblemRow]:
    return {row.id: ProblemRow(row) for row in conn.execute(_PROBLEM_ROWS.where(Problem.id.in_(ids)))}


def problem_list_page(actor: User, clock: Clock, filters: ProblemFilters, sort: str | None, *, page: int,
                      per_page: int) -> IdsFirstPagination:
    """One page of 问题清单 as ProblemRows, with the total and page numbers."""
    return IdsFirstPagination(select=problem_query(actor, clock, filters, sort), session=db.session,
                              page=page, per_page=per_page, max_per_page=200, error_out=False,
                              id=Problem.id, rows=_problem_rows)
