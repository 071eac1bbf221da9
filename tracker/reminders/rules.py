"""The reminder rules of DESIGN §3 "Reminders": each one set-based query over the tasks.

A rule yields the outbox rows it would add now in batches (already rendered, existing keys left
out); `services.queue_pass` queues and commits each batch, then `run_once` flushes. A rule reads
its candidates as light rows (ids, deadline, owner, unit path), works out every recipient's key,
and loads and renders only the measures whose key is new, CHUNK at a time: a pass costs a light
scan of the matching measures plus the messages it writes, and holds one batch in memory.
Dates come from the injected Clock, in TIMEZONE. Dedupe keys name the recipient, so a reminder
cancelled because the measure changed hands does not stop the new owner's reminder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased, joinedload, selectinload

from tracker.clock import Clock
from tracker.enums import OVERDUE_STATES, TaskType
from tracker.extensions import db
from tracker.followup import periods
from tracker.followup.models import (
    PeriodKind,
    Recheck,
    RecheckState,
    TaskPeriod,
    period_label,
    period_of,
    previous_period,
)
from tracker.org import queries as org_queries
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import messages, outbox, sweeps
from tracker.reminders.models import NotificationKind as Kind
from tracker.supervision import mail as notice_mail
from tracker.supervision.models import ADDRESSEE_ROLES, Notice, NoticeRecipient
from tracker.tasks.models import Task

Owner = aliased(User)
CHUNK = 1000  # measures per batch: one key lookup, one load and one INSERT each
Batches = Iterator[list[dict]]


def batched(items: Iterable, n: int) -> Iterator[list]:
    """`items` in lists of `n` (itertools.batched arrives in Python 3.12)."""
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _cfg(name: str) -> int:
    return int(current_app.config[name])


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to, as plain values: they outlive the pass's commits without a reload."""

    id: int
    name: str
    language: str | None
    active: bool

    @classmethod
    def of(cls, user: User) -> Recipient:
        return cls(user.id, user.name, user.language, user.active)


class _People:
    """The pass's recipients by id, read in chunks as they are first needed."""

    def __init__(self) -> None:
        self.known: dict[int, Recipient] = {}

    def add(self, users: Iterable[User]) -> None:
        for user in users:
            self.known.setdefault(user.id, Recipient.of(user))

    def load(self, ids: Iterable[int]) -> None:
        missing = sorted(set(ids) - self.known.keys())
        for chunk in batched(missing, 500):
            for r in db.session.execute(sa.select(User.id, User.name, User.language, User.active)
                                        .where(User.id.in_(chunk))):
                self.known[r.id] = Recipient(*r)


@dataclass
class Wanted:
    """One message a rule would send: to whom, under which key, about which measure."""

    kind: Kind
    user_id: int
    key: str
    task_id: int
    context: dict = field(default_factory=dict)  # extra template values (a period's label is per user)
    deadline: date | None = None  # what the row stores as its deadline, when not the measure's


def _light(*where, only: list[int] | None = None):
    """The open measures matching `where` as light rows: what a rule needs for recipients and keys.

    `only`: among these measures (ascending ids), CHUNK at a time."""
    stmt = (sa.select(Task.id, Task.deadline, Task.owner_id, Task.assigned_at, Task.period,
                      Unit.path.label("unit_path"), Problem.responsible_leader_id.label("leader_id"))
            .join(Problem, Problem.id == Task.problem_id)
            .join(Unit, Unit.id == Task.unit_id)
            .where(Task.state.in_(OVERDUE_STATES), *where)
            .order_by(Task.id))
    if only is None:
        return db.session.execute(stmt).all()
    return [r for chunk in batched(only, CHUNK) for r in db.session.execute(stmt.where(Task.id.in_(chunk)))]


def _swept(rule: Callable[[Clock, list[int] | None], Iterable[list[dict]]]) -> Callable[[Clock], Batches]:
    """A date-driven rule: every candidate on the day's first pass, then only the measures changed since
    the last pass (tracker.reminders.sweeps). The pass is recorded once the rule has been through it."""
    @functools.wraps(rule)
    def run(clock: Clock) -> Batches:
        window = sweeps.window(rule.__name__, clock)
        only = None if window.since is None else sweeps.changed_ids(window.since)
        if only != []:
            yield from rule(clock, only)
        sweeps.record(window)
    return run


def _full(ids) -> dict[int, tuple]:
    """The measures of `ids` with their owner's name, problem number and unit name: one query."""
    rows = db.session.execute(
        sa.select(Task, Owner.name, Problem.number, Unit.name)
        .join(Owner, Owner.id == Task.owner_id)
        .join(Problem, Problem.id == Task.problem_id)
        .join(Unit, Unit.id == Task.unit_id)
        .where(Task.id.in_(ids)))
    return {r[0].id: r for r in rows}


def _emit(found, wants: Callable[..., list[Wanted]], clock: Clock, people: _People | None = None) -> Batches:
    """The rows of the new messages `wants(light row)` names, CHUNK measures at a time.

    Keys already in the outbox are skipped before anything is loaded or rendered; a message to an
    inactive person is not written."""
    people = people or _People()
    today = clock.today()
    for chunk in batched(found, CHUNK):
        wanted = [w for r in chunk for w in wants(r)]
        known = outbox.existing_keys(w.key for w in wanted)
        fresh, seen = [], set()
        for w in wanted:
            if w.key not in known and w.key not in seen:
                seen.add(w.key)
                fresh.append(w)
        if not fresh:
            continue
        people.load(w.user_id for w in fresh)
        tasks = _full({w.task_id for w in fresh})
        rows = []
        for w in fresh:
            user, r = people.known.get(w.user_id), tasks.get(w.task_id)
            if user is None or not user.active or r is None:
                continue
            task = r[0]
            item = messages.make_item(task, number=r[2], unit=r[3], owner=r[1], today=today)
            context = {k: (v(user) if callable(v) else v) for k, v in w.context.items()}
            message = messages.render(w.kind, user, item=item, **context)
            values = outbox.row(w.kind, user, w.key, clock, message, task=task)
            if w.deadline is not None:
                values["deadline"] = w.deadline
            rows.append(values)
        if rows:
            yield rows


def _to(kind: Kind, key: Callable[[object, int], str],
        recipients: Callable[[object], list[int]] | None = None, **context) -> Callable[..., list[Wanted]]:
    """`wants` for `_emit`: one message of `kind` to each of `recipients(row)` (the owner by default)."""
    def wants(r) -> list[Wanted]:
        users = recipients(r) if recipients else [r.owner_id]
        return [Wanted(kind, u, key(r, u), r.id, dict(context)) for u in users]
    return wants


def assignment_row(task: Task, clock: Clock) -> dict:
    """The owner's notice that a measure is theirs; the version makes every (re)assignment distinct."""
    owner = task.owner
    item = messages.make_item(task, number=task.problem.number, unit=task.unit.name, owner=owner.name,
                              today=clock.today())
    key = f"assigned:{task.id}:u{owner.id}:v{task.version}"
    return outbox.row(Kind.ASSIGNED, owner, key, clock, messages.render(Kind.ASSIGNED, owner, item=item),
                      task=task)


@_swept
def due_soon(clock: Clock, only: list[int] | None = None) -> Batches:
    """Once per task per deadline (per owner), within DUE_SOON_DAYS before the deadline."""
    today = clock.today()
    found = _light(Task.type != TaskType.ONGOING, Task.deadline >= today,
                   Task.deadline <= today + timedelta(days=_cfg("DUE_SOON_DAYS")), only=only)
    return _emit(found, _to(Kind.DUE_SOON, lambda r, u: f"due_soon:{r.id}:{r.deadline}:u{u}"), clock)


@_swept
def overdue(clock: Clock, only: list[int] | None = None) -> Batches:
    """On the first overdue day, then once a week while overdue (a missed run still sends that week's)."""
    today = clock.today()

    def key(r, u):
        week = ((today - r.deadline).days - 1) // 7
        return f"overdue:{r.id}:{r.deadline}:{week}:u{u}"
    return _emit(_light(Task.overdue_clause(today), only=only), _to(Kind.OVERDUE, key), clock)


@_swept
def escalation(clock: Clock, only: list[int] | None = None) -> Batches:
    """Overdue ≥ ESCALATE_AFTER_DAYS: the responsible leader and the unit's managers, once per deadline."""
    today = clock.today()
    found = _light(Task.overdue_clause(today),
                   Task.deadline <= today - timedelta(days=_cfg("ESCALATE_AFTER_DAYS")), only=only)
    if not found:
        return
    managers = org_queries.managers_by_unit()
    people = _People()
    people.add(m for ms in managers.values() for m in ms)

    def recipients(r) -> list[int]:
        found = [m.id for m in org_queries.nearest_managers(r.unit_path, managers, {r.owner_id})]
        if r.leader_id is not None and r.leader_id != r.owner_id:
            found = [r.leader_id, *found]
        return found
    yield from _emit(found, _to(Kind.ESCALATION, lambda r, u: f"escalation:{r.id}:{r.deadline}:u{u}",
                                recipients), clock, people)


@_swept
def ongoing(clock: Clock, only: list[int] | None = None) -> Batches:
    """Ongoing (长期坚持) measures without a period: a progress reminder each month, from the month after
    assignment. Those with a period (阶段性销号) get `period_due` and `period_missed` instead."""
    local = clock.local_now()
    # Compared in UTC: SQLite stores the UTC wall time and ignores an offset on the parameter.
    month_start = datetime.combine(local.date().replace(day=1), time(), tzinfo=clock.tz).astimezone(UTC)
    found = _light(Task.type == TaskType.ONGOING, Task.period.is_(None), Task.created_at < month_start,
                   only=only)
    month = f"{local:%Y-%m}"
    return _emit(found, _to(Kind.ONGOING, lambda r, u: f"ongoing:{r.id}:{month}:u{u}"), clock)


def _period_context(kind: PeriodKind, start: date, end: date) -> dict:
    return {"period": lambda user: period_label(kind, start, user.language or "zh"), "period_end": end}


def period_due(clock: Clock) -> Batches:
    """阶段性销号: within DUE_SOON_DAYS of the end of the current period, nothing submitted for it yet — its
    owner, once per period."""
    today = clock.today()
    for kind in PeriodKind:
        start, end = period_of(kind, today)
        if (end - today).days > _cfg("DUE_SOON_DAYS"):
            continue
        live = sa.select(TaskPeriod.id).where(TaskPeriod.task_id == Task.id, TaskPeriod.period_start == start,
                                              TaskPeriod.state.in_(periods.LIVE))
        found = _light(Task.type == TaskType.ONGOING, Task.period == kind, ~live.exists())

        def wants(r, start=start, end=end, kind=kind) -> list[Wanted]:
            # the period it is about: moot once that period has a result
            return [Wanted(Kind.PERIOD_DUE, r.owner_id, f"period_due:{r.id}:{start}:u{r.owner_id}", r.id,
                           _period_context(kind, start, end), deadline=start)]
        yield from _emit(found, wants, clock)


def period_missed(clock: Clock) -> Batches:
    """The last ended period has no result: the owner and the nearest managers, once per period."""
    today = clock.today()
    found = _light(periods.missed_clause(today))
    if not found:
        return
    managers = org_queries.managers_by_unit()
    people = _People()
    people.add(m for ms in managers.values() for m in ms)

    def wants(r) -> list[Wanted]:
        start, end = previous_period(r.period, today)
        above = org_queries.nearest_managers(r.unit_path, managers, {r.owner_id})
        users = [r.owner_id, *(m.id for m in above)]
        return [Wanted(Kind.PERIOD_MISSED, u, f"period_missed:{r.id}:{start}:u{u}", r.id,
                       _period_context(r.period, start, end), deadline=start) for u in users]
    yield from _emit(found, wants, clock, people)


def recheck_due(clock: Clock) -> list[dict]:
    """回头看: on and after its date, the reviewer of a waiting re-check is reminded, once per re-check."""
    today = clock.today()
    Reviewer = aliased(User)
    found = db.session.execute(
        sa.select(Recheck, Task, Reviewer, Problem.number, Unit.name, Owner.name)
        .join(Task, Task.id == Recheck.task_id).join(Reviewer, Reviewer.id == Recheck.reviewer_id)
        .join(Problem, Problem.id == Task.problem_id).join(Unit, Unit.id == Task.unit_id)
        .join(Owner, Owner.id == Task.owner_id)
        .where(Recheck.state == RecheckState.SCHEDULED, Recheck.due_on <= today)
        .order_by(Recheck.id)).all()
    keys = {f"recheck_due:{r[0].id}:u{r[2].id}": r for r in found}
    known = outbox.existing_keys(keys)
    rows = []
    for key, (recheck, task, reviewer, number, unit, owner) in keys.items():
        if key in known or not reviewer.active:
            continue
        item = messages.make_item(task, number=number, unit=unit, owner=owner, today=today)
        message = messages.render(Kind.RECHECK_DUE, reviewer, item=item, due_on=recheck.due_on)
        values = outbox.row(Kind.RECHECK_DUE, reviewer, key, clock, message, task=task)
        values["deadline"] = recheck.due_on
        rows.append(values)
    return rows


def _not_signed_for(clock: Clock, setting: str):
    cutoff = clock.now() - timedelta(days=_cfg(setting))
    return _light(Task.awaiting_ack_clause(), Task.assigned_at <= cutoff)


def _assignment(assigned_at: datetime) -> str:
    """One assignment of a measure to one owner (a reassignment is a new one)."""
    return f"{assigned_at:%Y%m%d%H%M%S}"


def ack_due(clock: Clock) -> Batches:
    """Not signed for (签收) ACK_WITHIN_DAYS after assignment: the owner, once per assignment."""
    found = _not_signed_for(clock, "ACK_WITHIN_DAYS")
    return _emit(found, _to(Kind.ACK_DUE, lambda r, u: f"ack_due:{r.id}:{_assignment(r.assigned_at)}:u{u}"),
                 clock)


def ack_escalation(clock: Clock) -> Batches:
    """Still not signed for ACK_ESCALATE_AFTER_DAYS after assignment: the unit's managers, once."""
    found = _not_signed_for(clock, "ACK_ESCALATE_AFTER_DAYS")
    if not found:
        return
    managers = org_queries.managers_by_unit()
    people = _People()
    people.add(m for ms in managers.values() for m in ms)

    def key(r, u) -> str:
        return f"ack_escalation:{r.id}:{_assignment(r.assigned_at)}:o{r.owner_id}:u{u}"
    yield from _emit(found, _to(Kind.ACK_ESCALATION, key, lambda r: [
        m.id for m in org_queries.nearest_managers(r.unit_path, managers, {r.owner_id})]), clock, people)


def _late_notices(clock: Clock, days_late: int) -> list[Notice]:
    """Notices still awaiting their reply `days_late` days or more after the reply deadline."""
    today = clock.today()
    return list(db.session.scalars(
        sa.select(Notice).where(Notice.reply_overdue_clause(today),
                                Notice.reply_due_on <= today - timedelta(days=days_late))
        .options(joinedload(Notice.issuing_unit), joinedload(Notice.addressee_unit),
                 selectinload(Notice.recipients).joinedload(NoticeRecipient.user),
                 selectinload(Notice.items)).order_by(Notice.id)))


def _notice_rows(kind: Kind, found: list[Notice], recipients_of, key_of, clock: Clock) -> list[dict]:
    candidates = [(n, u, key_of(n, u)) for n in found for u in recipients_of(n)]
    known = outbox.existing_keys(c[2] for c in candidates)
    today, rows = clock.today(), []
    for n, user, key in candidates:
        if key in known:
            continue
        known.add(key)
        mail = notice_mail.notice_mail(n, [], today)
        rows.extend(notice_mail.rows(kind, n, [user], lambda _u, key=key: key, clock, mail))
    return rows


def notice_reply_due(clock: Clock) -> list[dict]:
    """A notice's reply not in by its deadline: its addressees, once per notice and deadline."""
    found = _late_notices(clock, 1)
    return _notice_rows(Kind.NOTICE_REPLY_DUE, found,
                        lambda n: [r.user for r in n.recipients if r.role in ADDRESSEE_ROLES],
                        lambda n, u: f"notice_reply_due:{n.id}:{n.reply_due_on}:u{u.id}", clock)


def notice_reply_escalation(clock: Clock) -> list[dict]:
    """Still no reply NOTICE_ESCALATE_AFTER_DAYS after the deadline: the issuing unit's managers, once."""
    found = _late_notices(clock, _cfg("NOTICE_ESCALATE_AFTER_DAYS"))
    if not found:
        return []
    managers = org_queries.managers_by_unit({n.issuing_unit_id for n in found})
    return _notice_rows(Kind.NOTICE_REPLY_ESCALATION, found, lambda n: managers.get(n.issuing_unit_id, []),
                        lambda n, u: f"notice_reply_escalation:{n.id}:{n.reply_due_on}:u{u.id}", clock)


RULES = (due_soon, overdue, escalation, ongoing, period_due, period_missed, recheck_due, ack_due,
         ack_escalation, notice_reply_due, notice_reply_escalation)
