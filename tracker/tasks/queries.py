"""The rectification list as a query: filters, scope and sorting in one place (web list, API, exports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased, joinedload, selectinload

from tracker import scope, textsearch
from tracker.audit.models import AuditEvent
from tracker.clock import Clock
from tracker.enums import OPEN_STATES, Light, Role, TaskState, TaskType
from tracker.extensions import MAX_ID, db
from tracker.followup import periods
from tracker.org.models import Unit, User
from tracker.pagination import IdsFirstPagination, count_upto
from tracker.problems.models import Problem, Source
from tracker.review.models import Rating
from tracker.tasks import rules
from tracker.tasks.models import Evidence, Extension, Progress, Task, TaskRules

OPEN = "open"  # the pseudo-state "assigned, in progress or submitted"
TRUE_WORDS = {"1", "true", "yes", "on", "y"}

SORT_KEYS = ("deadline", "state", "owner", "unit", "number", "created")
DEFAULT_SORT = "deadline"
# Workflow order, so "sort by state" reads like the process rather than the alphabet.
STATE_ORDER = {s: i for i, s in enumerate(TaskState)}


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        return None


def _enum(enum_cls, value: Any):
    try:
        return enum_cls(str(value).strip())
    except ValueError:
        return None


RATED, UNRATED = "rated", "unrated"
RATING_FILTERS = (*(r.value for r in Rating if r != Rating.UNSATISFIED), RATED, UNRATED)
MAX_STEP = 9


@dataclass
class TaskFilters:
    """What the user asked the list for; every field None/False means "no restriction"."""

    state: str | None = None  # a TaskState value or OPEN
    unit_id: int | None = None  # the unit and its subtree
    owner_id: int | None = None
    source_id: int | None = None
    category_id: int | None = None
    overdue: bool = False
    light: Light | None = None
    due_after: date | None = None
    due_before: date | None = None
    q: str | None = None
    problem_id: int | None = None
    type: TaskType | None = None
    awaiting_ack: bool = False  # not yet signed for (未签收)
    stalled: bool = False  # no progress for STALL_DAYS
    leader_id: int | None = None  # the problem's responsible leader
    rating: str | None = None  # a Rating value of the close-out, RATED (any) or UNRATED (closed, none)
    review_step: int | None = None  # submitted and waiting at this step of its review chain
    period_missed: bool = False  # an ongoing measure whose last ended period has no result
    rebounded: bool = False  # reopened after a re-check (回头看): round 2 or later

    @classmethod
    def from_args(cls, args: Mapping) -> TaskFilters:
        """Parse request arguments (web names like `unit` or API names like `unit_id`); junk is ignored."""

        def get(name: str):
            value = args.get(name)
            if value in (None, ""):
                value = args.get(f"{name}_id")
            return value

        state = str(args.get("state") or "").strip()
        if state != OPEN:
            state = getattr(_enum(TaskState, state), "value", None)
        return cls(
            state=state,
            unit_id=_int(get("unit")),
            owner_id=_int(get("owner")),
            source_id=_int(get("source")),
            category_id=_int(get("category")),
            overdue=str(args.get("overdue") or "").strip().lower() in TRUE_WORDS,
            light=_enum(Light, args.get("light") or ""),
            due_after=_date(args.get("due_after")),
            due_before=_date(args.get("due_before")),
            q=textsearch.query_text(args.get("q")),
            problem_id=_int(get("problem")),
            type=_enum(TaskType, args.get("type") or ""),
            awaiting_ack=str(args.get("awaiting_ack") or "").strip().lower() in TRUE_WORDS,
            stalled=str(args.get("stalled") or "").strip().lower() in TRUE_WORDS,
            leader_id=_int(get("leader")),
            rating=rating if (rating := str(args.get("rating") or "").strip()) in RATING_FILTERS else None,
            review_step=step if (step := _int(args.get("review_step"))) and step <= MAX_STEP else None,
            period_missed=str(args.get("period_missed") or "").strip().lower() in TRUE_WORDS,
            rebounded=str(args.get("rebounded") or "").strip().lower() in TRUE_WORDS,
        )

    @property
    def active(self) -> bool:
        """True when any filter is set (the page then offers a reset link)."""
        return any(getattr(self, f.name) not in (None, False) for f in fields(self))

    @property
    def needs_problem(self) -> bool:
        return bool(self.q or self.source_id or self.category_id or self.leader_id)


def light_rank(today: date, due_soon_days: int):
    """0 red, 1 yellow, 2 green / not open: orders a list by urgency."""
    return sa.case(
        (Task.overdue_clause(today), 0),
        (Task.due_soon_clause(today, due_soon_days), 1),
        else_=2,
    )


def light_clause(light: Light, today: date, due_soon_days: int):
    """SQL for one traffic light colour, the twin of Task.light()."""
    red = Task.overdue_clause(today)
    yellow = Task.due_soon_clause(today, due_soon_days)
    if light == Light.RED:
        return red
    if light == Light.YELLOW:
        return yellow
    return sa.and_(Task.state.in_(OPEN_STATES), sa.not_(red), sa.not_(yellow))


def _subtree_of(unit_id: int):
    """Ids of a unit and its descendants, by id, without loading the unit first."""
    top = aliased(Unit)
    path = sa.select(top.path).where(top.id == unit_id).scalar_subquery()
    return sa.select(Unit.id).where(Unit.path.startswith(path)).scalar_subquery()


def stall_cutoff(now: datetime) -> datetime:
    return now - timedelta(days=current_app.config["STALL_DAYS"])


def _where(filters: TaskFilters, clock: Clock, due_soon_days: int) -> list:
    """The WHERE terms for the filters (Problem columns require the caller to join Problem)."""
    terms: list = []
    today = clock.today()
    if filters.state == OPEN:
        terms.append(Task.state.in_(OPEN_STATES))
    elif filters.state:
        terms.append(Task.state == TaskState(filters.state))
    if filters.unit_id:
        terms.append(Task.unit_id.in_(_subtree_of(filters.unit_id)))
    if filters.owner_id:
        terms.append(Task.owner_id == filters.owner_id)
    if filters.problem_id:
        terms.append(Task.problem_id == filters.problem_id)
    if filters.type:
        terms.append(Task.type == filters.type)
    if filters.source_id:
        terms.append(Problem.source_id == filters.source_id)
    if filters.category_id:
        terms.append(Problem.category_id == filters.category_id)
    if filters.overdue:
        terms.append(Task.overdue_clause(today))
    if filters.awaiting_ack:
        terms.append(Task.awaiting_ack_clause())
    if filters.stalled:
        terms.append(Task.stalled_clause(stall_cutoff(clock.now())))
    if filters.leader_id:
        terms.append(Problem.responsible_leader_id == filters.leader_id)
    if filters.light:
        terms.append(light_clause(filters.light, today, due_soon_days))
    if filters.rating == RATED:
        terms.append(Task.rating.is_not(None))
    elif filters.rating == UNRATED:
        terms.append(sa.and_(Task.state == TaskState.CLOSED, Task.rating.is_(None)))
    elif filters.rating:
        terms.append(Task.rating == Rating(filters.rating))
    if filters.rebounded:
        terms.append(Task.round > 1)
    if filters.period_missed:
        terms.append(periods.missed_clause(today))
    if filters.review_step:
        terms.append(sa.and_(Task.state == TaskState.SUBMITTED,
                             sa.func.coalesce(Task.review_step, 1) == filters.review_step))
    if filters.due_after:
        terms.append(Task.deadline >= filters.due_after)
    if filters.due_before:
        terms.append(Task.deadline <= filters.due_before)
    if filters.q:
        pattern = textsearch.contains(filters.q)
        terms.append(sa.or_(*(col.ilike(pattern, escape=textsearch.ESCAPE) for col in (
            Task.measure, Task.target, Task.result, Problem.number, Problem.description))))
    return terms


def parse_sort(raw: str | None) -> tuple[str, bool]:
    """`deadline` / `-deadline` → (key, descending); unknown keys fall back to the default."""
    raw = (raw or "").strip()
    key = raw.lstrip("-")
    if key not in SORT_KEYS:
        return DEFAULT_SORT, False
    return key, raw.startswith("-")


def _order(stmt, sort: tuple[str, bool], today: date, overdue_only: bool = False):
    key, desc = sort

    def direction(col):
        return col.desc() if desc else col.asc()

    # Ongoing measures may have no deadline: put them last in either direction, on every backend.
    no_deadline = Task.deadline.is_(None)
    if key == "deadline" and overdue_only:
        # Every row is overdue and has a deadline: plain (deadline, id) reads ix_tasks_overdue_deadline
        # in order and stops at the page, instead of sorting every overdue row by an expression.
        order = [direction(Task.deadline)]
    elif key == "deadline":
        order = [] if desc else [sa.case((Task.overdue_clause(today), 0), else_=1)]
        order += [no_deadline, direction(Task.deadline)]
    elif key == "state":
        order = [direction(sa.case(STATE_ORDER, value=Task.state)), no_deadline, Task.deadline]
    elif key == "owner":
        # By name, then person by person (two people of one name are not interleaved): the order a
        # walk of ix_users_name gives with each person's measures off ix_tasks_owner_id, no sort of
        # every match (SQLite at 1M: 6.2 s before, under 1 ms).
        owner = aliased(User)
        stmt = stmt.join(owner, owner.id == Task.owner_id)
        order = [direction(owner.name), direction(owner.id)]
    elif key == "unit":
        unit = aliased(Unit)
        stmt = stmt.join(unit, unit.id == Task.unit_id)
        order = [direction(unit.path), direction(unit.id)]
    elif key == "number":
        order = [direction(Problem.number)]
    else:
        order = [direction(Task.created_at)]
    return stmt.order_by(*order, direction(Task.id))


def task_query(actor: User, clock: Clock, filters: TaskFilters, sort: tuple[str, bool] | str | None = None,
               *, load: bool = True):
    """The tasks `actor` may read that match `filters`, sorted; owner, unit and problem loaded with it."""
    today = clock.today()
    days = current_app.config["DUE_SOON_DAYS"]
    if not isinstance(sort, tuple):
        sort = parse_sort(sort)
    stmt = sa.select(Task).where(scope.task_clause(actor))
    if filters.needs_problem or sort[0] == "number":
        stmt = stmt.join(Problem, Problem.id == Task.problem_id)
    stmt = stmt.where(*_where(filters, clock, days))
    stmt = _order(stmt, sort, today, overdue_only=filters.overdue or filters.light == Light.RED)
    if load:
        stmt = stmt.options(joinedload(Task.owner), joinedload(Task.unit), joinedload(Task.problem))
    return stmt


# --- the list page: plain rows -------------------------------------------------------------------

# Texts the list cuts at 120 characters: fetch a little more than `truncate` keeps (120 + its
# leeway of 5), so the cut reads exactly as it would on the whole text.
LIST_TEXT = 130


class _ListValues(NamedTuple):
    id: int
    problem_id: int
    problem_number: str
    problem_description: str
    measure: str
    type: TaskType
    owner_name: str
    unit_name: str
    deadline: date | None
    original_deadline: date | None
    state: TaskState
    closed_on: date | None
    ack_required: bool
    acknowledged_at: datetime | None


class ListRow(_ListValues, TaskRules):
    """One line of the rectification list: the values the page shows, not ORM objects.

    Building 50 Tasks with their problem, owner and unit in the ORM cost more than their query;
    the rules (light, overdue, closed late) come from the same TaskRules as Task's. A tuple, made
    from the database row in one step (a dict per row cost a sixth of the rows' query)."""

    __slots__ = ()


# Built once, with the ids as one expanding parameter: aliasing and adapting the joined columns, and
# adding the ids' WHERE, on every request cost more than the query.
_CUT = sa.func.substr
_ROWS = (sa.select(Task.id, Task.problem_id, Problem.number, _CUT(Problem.description, 1, LIST_TEXT),
                   _CUT(Task.measure, 1, LIST_TEXT), Task.type, User.name, Unit.name,
                   Task.deadline, Task.original_deadline, Task.state, Task.closed_on, Task.ack_required,
                   Task.acknowledged_at)
         .join(Problem, Problem.id == Task.problem_id).join(User, User.id == Task.owner_id)
         .join(Unit, Unit.id == Task.unit_id)
         .where(Task.id.in_(sa.bindparam("ids", expanding=True))))


def _list_rows(conn: sa.Connection, ids: list[int]) -> dict[int, ListRow]:
    make = ListRow._make
    return {row[0]: make(row) for row in conn.execute(_ROWS, {"ids": ids})}


class RowPagination(IdsFirstPagination):
    """A page of ListRows; the total counts the filtered tasks without the joins the rows need."""

    def _page_ids(self, conn: sa.Connection) -> list[int]:
        parts = self._query_args.get("parts")
        if not parts:
            return super()._page_ids(conn)
        stmt = self._query_args["select"].with_only_columns(Task.id)
        # The default order (overdue first, then by deadline, no deadline last) as three runs that
        # each come off an index in order, instead of one sort of every row in scope.
        base = stmt.order_by(None)
        ids, skip, want = [], self._query_offset, self.per_page
        for where, order in parts:
            part = base.where(where)
            if skip:
                # Whether the page starts past this run: counting up to `skip` rows of it costs what
                # the OFFSET does, however long the run is.
                size = count_upto(conn, part, skip)
                if skip >= size:
                    skip -= size
                    continue
            got = conn.scalars(part.order_by(*order).limit(want).offset(skip)).all()
            ids += got
            want, skip = want - len(got), 0
            if not want:
                break
        return ids


def list_page(actor: User, clock: Clock, filters: TaskFilters, sort: tuple[str, bool], *, page: int,
              per_page: int) -> RowPagination:
    """One page of the rectification list as ListRows, with the total and page numbers."""
    stmt = task_query(actor, clock, filters, sort, load=False)
    parts = None
    if sort == ("deadline", False) and not (filters.overdue or filters.light == Light.RED):
        # Overdue first by deadline (ix_tasks_overdue_deadline), then the rest by deadline
        # (ix_tasks_deadline), then those without a deadline: the order of _order's CASE.
        overdue = Task.overdue_clause(clock.today())
        parts = [(overdue, (Task.deadline, Task.id)),
                 (sa.and_(sa.not_(overdue), Task.deadline.is_not(None)), (Task.deadline, Task.id)),
                 (Task.deadline.is_(None), (Task.id,))]
    elif sort[0] == "state":
        # State by state in the list's order, each by deadline off ix_tasks_state_deadline_id, the ones
        # without a deadline after (the order of _order's CASE), rather than one sort of every match.
        states = sorted(STATE_ORDER, key=STATE_ORDER.get, reverse=sort[1])
        last = Task.id.desc() if sort[1] else Task.id
        parts = [part for state in states for part in (
            (sa.and_(Task.state == state, Task.deadline.is_not(None)), (Task.deadline, last)),
            (sa.and_(Task.state == state, Task.deadline.is_(None)), (last,)))]
    return RowPagination(select=stmt, session=db.session, page=page, per_page=per_page, max_per_page=200,
                         error_out=False, id=Task.id, rows=_list_rows, parts=parts)


# --- the API list: plain rows --------------------------------------------------------------------

# The columns api.schemas.task_json reads, in this order (the names of ApiRow's fields).
_API_COLUMNS = ("id", "problem_id", "measure", "target", "type", "owner_id", "unit_id", "deadline",
                "original_deadline", "state", "result", "version", "submitted_at", "closed_at", "closed_on",
                "ack_required", "acknowledged_at", "submissions", "review_step", "rating", "period")


class ApiRow(NamedTuple("_ApiValues", [(name, Any) for name in _API_COLUMNS]), TaskRules):
    """A measure of the API list as plain values: 50 ORM Tasks cost more to build than to serialise."""

    __slots__ = ()


_API_ROWS = (sa.select(*(getattr(Task, name) for name in _API_COLUMNS))
             .where(Task.id.in_(sa.bindparam("ids", expanding=True))))


def api_rows(ids: list[int]) -> dict[int, ApiRow]:
    """{id: ApiRow} of these measures (no scope check: the ids come from a scoped query)."""
    make = ApiRow._make
    return {row[0]: make(row) for row in db.session.connection().execute(_API_ROWS, {"ids": ids})}


# --- the home page ------------------------------------------------------------------------------


class ProblemRef(NamedTuple):
    id: int
    number: str
    description: str


class HomeRow(TaskRules):
    """One of my open measures on 我的任务, as plain values (see ListRow): a hundred Tasks with
    their problems built in the ORM cost more than the rest of the page."""

    def __init__(self, row) -> None:
        (self.id, self.measure, self.type, self.deadline, self.original_deadline, self.state,
         self.closed_on, self.ack_required, self.acknowledged_at) = row[:9]
        self.problem = ProblemRef(*row[9:])


_HOME_ROWS = (sa.select(Task.id, _CUT(Task.measure, 1, LIST_TEXT), Task.type, Task.deadline,
                        Task.original_deadline, Task.state, Task.closed_on, Task.ack_required,
                        Task.acknowledged_at, Problem.id, Problem.number, Problem.description)
              .join(Problem, Problem.id == Task.problem_id))


def my_open_tasks(actor: User, clock: Clock, limit: int) -> list[HomeRow]:
    """The actor's own open tasks: red, then yellow, then green, each by deadline (none last).

    Read as three runs, each in deadline order off ix_tasks_owner_open and stopping at `limit`, instead
    of one sort of every open measure the person holds by a CASE no index gives."""
    today, days = clock.today(), current_app.config["DUE_SOON_DAYS"]
    mine = _HOME_ROWS.where(Task.owner_id == actor.id, Task.open_clause())
    red, yellow = Task.overdue_clause(today), Task.due_soon_clause(today, days)
    # Green: what is neither (ongoing measures, and deadlines past the due-soon window).
    green = sa.or_(Task.type == TaskType.ONGOING, Task.deadline > today + timedelta(days=days))
    rows: list[HomeRow] = []
    for where, order in ((red, (Task.deadline, Task.id)), (yellow, (Task.deadline, Task.id)),
                         (green, (Task.deadline.is_(None), Task.deadline, Task.id))):
        rows += [HomeRow(row) for row in db.session.execute(mine.where(where).order_by(*order)
                                                             .limit(limit - len(rows)))]
        if len(rows) >= limit:
            break
    return rows


def _count(cond):
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def my_counters(actor: User, clock: Clock) -> dict[str, int]:
    """Counts of the actor's open tasks: overdue, due soon, in progress, awaiting close-out."""
    today, days = clock.today(), current_app.config["DUE_SOON_DAYS"]
    count = _count
    row = db.session.execute(
        sa.select(
            count(Task.overdue_clause(today)).label("overdue"),
            count(Task.due_soon_clause(today, days)).label("due_soon"),
            count(Task.state == TaskState.IN_PROGRESS).label("in_progress"),
            count(Task.state == TaskState.SUBMITTED).label("submitted"),
            sa.func.count(Task.id).label("open"),
        ).where(Task.owner_id == actor.id, Task.open_clause())  # from ix_tasks_owner_open alone
    ).one()
    return {key: int(value or 0) for key, value in row._mapping.items()}


def period_evidence(task: Task) -> dict[int, list[Evidence]]:
    """The evidence of each period's result of the measure, by period result id (one query)."""
    found: dict[int, list[Evidence]] = {}
    for ev in db.session.scalars(sa.select(Evidence).where(Evidence.task_id == task.id,
                                                          Evidence.period_id.is_not(None)).order_by(Evidence.id)):
        found.setdefault(ev.period_id, []).append(ev)
    return found


def awaiting_verification(actor: User, limit: int):
    """Submitted tasks whose current step of the review chain waits for this person's decision (verify at
    the last step, pass before it), oldest submission first, with their steps; and their total."""
    where = sa.or_(rules.clause(actor, "verify"), rules.clause(actor, "pass"))
    total = db.session.scalar(sa.select(sa.func.count(Task.id)).where(where))
    rows = db.session.scalars(
        sa.select(Task).where(where)
        .options(joinedload(Task.problem), joinedload(Task.owner), joinedload(Task.unit),
                 selectinload(Task.review_steps))
        .order_by(Task.submitted_at, Task.id).limit(limit)
    ).all()
    return rows, total


def pending_extensions(actor: User, limit: int):
    """Extension requests waiting for this manager's decision (oldest first) and their total."""
    where = rules.decidable_clause(actor)
    base = sa.select(Extension).join(Task, Task.id == Extension.task_id).where(where)
    total = db.session.scalar(
        sa.select(sa.func.count(Extension.id)).join(Task, Task.id == Extension.task_id).where(where))
    rows = db.session.scalars(
        base.options(selectinload(Extension.task).joinedload(Task.problem),
                     selectinload(Extension.requested_by))
        .order_by(Extension.created_at, Extension.id).limit(limit)
    ).all()
    return rows, total


# --- the task page ------------------------------------------------------------------------------


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


def task_evidence(task: Task) -> list[Evidence]:
    """Every evidence file of a task, oldest first, with its uploader."""
    return db.session.scalars(
        sa.select(Evidence).where(Evidence.task_id == task.id)
        .options(joinedload(Evidence.uploaded_by)).order_by(Evidence.id)
    ).all()


# --- filter bar choices -------------------------------------------------------------------------


def sources_in_scope(actor: User, limit: int | None = None) -> list:
    """(id, name, held_on) of the sources recorded by the actor's units or the units above them
    (newest first; admins: all), for the filter bars of both lists.

    An index lookup on the source's unit, not a scan of every visible task: at 100k tasks the
    "sources my tasks came from" join cost more than the whole page. Sources held higher up
    (an inspection of the whole bureau) are included: their problems reach the branches.
    Plain rows: a filter bar needs no Source objects.
    """
    stmt = sa.select(Source.id, Source.name, Source.held_on).order_by(Source.held_on.desc(), Source.id.desc())
    if actor.role != Role.ADMIN:
        if actor.unit is None:
            return []
        ancestors = [int(part) for part in actor.unit.path.strip("/").split("/") if part]
        stmt = stmt.where(sa.or_(Source.unit_id.in_(scope.subtree_ids(actor.unit)),
                                 Source.unit_id.in_(ancestors)))
    return db.session.execute(stmt.limit(limit)).all()


# --- the supervision desk (督办台) of a leader's home --------------------------------------------

DESK_KEYS = ("red", "yellow", "awaiting_ack", "stalled", "submitted", "open")


@dataclass
class DeskRow:
    """What to chase in one part of the actor's scope; each number has a filter of the 整改清单."""

    label: str
    args: dict  # the 整改清单 filter that lists this row's measures (unit, leader …)
    counts: dict
    overdue_ids: list[int] = field(default_factory=list)  # a unit row's overdue measures, for a 督办单


@dataclass
class Desk:
    units: list[DeskRow]
    total: DeskRow
    leaders: list[DeskRow]


def _desk_counts(today: date, days: int, cutoff) -> list:
    return [
        _count(Task.overdue_clause(today)).label("red"),
        _count(Task.due_soon_clause(today, days)).label("yellow"),
        _count(Task.awaiting_ack_clause()).label("awaiting_ack"),
        _count(Task.stalled_clause(cutoff)).label("stalled"),
        _count(Task.state == TaskState.SUBMITTED).label("submitted"),
        sa.func.count(Task.id).label("open"),
    ]


def supervision_desk(actor: User, clock: Clock) -> Desk:
    """The open measures in the actor's scope counted by what needs chasing: per unit one level below
    the actor's own (each a subtree), in total, and per responsible leader. Three queries."""
    today, days = clock.today(), current_app.config["DUE_SOON_DAYS"]
    counts = _desk_counts(today, days, stall_cutoff(clock.now()))
    where = (scope.task_clause(actor), Task.state.in_(OPEN_STATES))
    by_unit = db.session.execute(
        sa.select(Unit.path, *counts).join(Unit, Unit.id == Task.unit_id).where(*where).group_by(Unit.path)
    ).all()
    top = actor.unit
    children = db.session.scalars(
        sa.select(Unit).where(Unit.parent_id == top.id if top is not None else Unit.parent_id.is_(None))
        .order_by(Unit.sort_order, Unit.id)).all()
    zero = dict.fromkeys(DESK_KEYS, 0)
    rows = {c.id: DeskRow(c.name, {"unit": c.id}, dict(zero)) for c in children}
    total = DeskRow("", {"unit": top.id} if top is not None else {}, dict(zero))
    for path, *values in by_unit:
        child = next((c for c in children if path.startswith(c.path)), None)
        for key, value in zip(DESK_KEYS, values, strict=True):
            total.counts[key] += int(value)
            if child is not None:
                rows[child.id].counts[key] += int(value)
    by_leader = db.session.execute(
        sa.select(Problem.responsible_leader_id, User.name, *counts)
        .join(Problem, Problem.id == Task.problem_id).join(User, User.id == Problem.responsible_leader_id)
        .where(*where).group_by(Problem.responsible_leader_id, User.name).order_by(User.name)
    ).all()
    leaders = [DeskRow(name, {"leader": leader_id}, dict(zip(DESK_KEYS, map(int, values), strict=True)))
               for leader_id, name, *values in by_leader]
    if any(r.counts["red"] for r in rows.values()):
        _overdue_ids(actor, today, children, rows)
    return Desk(units=[r for r in rows.values() if r.counts["open"]], total=total, leaders=leaders)


DESK_NOTICE_MEASURES = 50  # the most measures a 督办单 started from the desk lists (most overdue first)


def _overdue_ids(actor: User, today: date, children: list[Unit], rows: dict[int, DeskRow]) -> None:
    """The overdue measures of each unit row, longest overdue first: one query, bounded."""
    found = db.session.execute(
        sa.select(Task.id, Unit.path).join(Unit, Unit.id == Task.unit_id)
        .where(scope.task_clause(actor), Task.overdue_clause(today))
        .order_by(Task.deadline, Task.id).limit(DESK_NOTICE_MEASURES * max(len(children), 1))).all()
    for task_id, path in found:
        child = next((c for c in children if path.startswith(c.path)), None)
        if child is not None and len(rows[child.id].overdue_ids) < DESK_NOTICE_MEASURES:
            rows[child.id].overdue_ids.append(task_id)
