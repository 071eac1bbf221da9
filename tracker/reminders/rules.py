"""The reminder rules of DESIGN §3 "Reminders": each one set-based query over the tasks.

A rule returns the outbox rows it would add now (already rendered, existing keys left out);
`run_once` queues them and flushes. Dates come from the injected Clock, in TIMEZONE.
Dedupe keys name the recipient, so a reminder cancelled because the measure changed hands
does not stop the new owner's reminder.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

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
from tracker.reminders import messages, outbox
from tracker.reminders.models import NotificationKind as Kind
from tracker.supervision import mail as notice_mail
from tracker.supervision.models import ADDRESSEE_ROLES, Notice, NoticeRecipient
from tracker.tasks.models import Task

Owner = aliased(User)


def _cfg(name: str) -> int:
    return int(current_app.config[name])


def _task_rows(*where):
    """Open tasks with their owner, problem number, unit and responsible leader: one query."""
    stmt = (sa.select(Task, Owner, Problem.number, Unit.name, Unit.path, Problem.responsible_leader_id)
            .join(Owner, Owner.id == Task.owner_id)
            .join(Problem, Problem.id == Task.problem_id)
            .join(Unit, Unit.id == Task.unit_id)
            .where(Task.state.in_(OVERDUE_STATES), *where)
            .order_by(Task.id))
    return db.session.execute(stmt).all()


def _build(candidates, clock: Clock) -> list[dict]:
    """Render and shape the candidates (kind, recipient, key, task row) whose key is new."""
    known = outbox.existing_keys(c[2] for c in candidates)
    today, rows, seen = clock.today(), [], set()
    for kind, user, key, r in candidates:
        if key in known or key in seen or not user.active:
            continue
        seen.add(key)
        task = r[0]
        item = messages.make_item(task, number=r[2], unit=r[3], owner=r[1].name, today=today)
        message = messages.render(kind, user, item=item)
        rows.append(outbox.row(kind, user, key, clock, message, task=task))
    return rows


def assignment_row(task: Task, clock: Clock) -> dict:
    """The owner's notice that a measure is theirs; the version makes every (re)assignment distinct."""
    owner = task.owner
    item = messages.make_item(task, number=task.problem.number, unit=task.unit.name, owner=owner.name,
                              today=clock.today())
    key = f"assigned:{task.id}:u{owner.id}:v{task.version}"
    return outbox.row(Kind.ASSIGNED, owner, key, clock, messages.render(Kind.ASSIGNED, owner, item=item),
                      task=task)


def due_soon(clock: Clock) -> list[dict]:
    """Once per task per deadline (per owner), within DUE_SOON_DAYS before the deadline."""
    today = clock.today()
    found = _task_rows(Task.type != TaskType.ONGOING, Task.deadline >= today,
                       Task.deadline <= today + timedelta(days=_cfg("DUE_SOON_DAYS")))
    return _build([(Kind.DUE_SOON, r[1], f"due_soon:{r[0].id}:{r[0].deadline}:u{r[1].id}", r)
                   for r in found], clock)


def overdue(clock: Clock) -> list[dict]:
    """On the first overdue day, then once a week while overdue (a missed run still sends that week's)."""
    today = clock.today()
    found = _task_rows(Task.overdue_clause(today))
    candidates = []
    for r in found:
        week = ((today - r[0].deadline).days - 1) // 7
        candidates.append((Kind.OVERDUE, r[1], f"overdue:{r[0].id}:{r[0].deadline}:{week}:u{r[1].id}", r))
    return _build(candidates, clock)


def escalation(clock: Clock) -> list[dict]:
    """Overdue ≥ ESCALATE_AFTER_DAYS: the responsible leader and the unit's managers, once per deadline."""
    today = clock.today()
    found = _task_rows(Task.overdue_clause(today),
                       Task.deadline <= today - timedelta(days=_cfg("ESCALATE_AFTER_DAYS")))
    if not found:
        return []
    managers = org_queries.managers_by_unit()
    leader_ids = {r[5] for r in found} - {None}
    leaders = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(leader_ids)))}
    candidates = []
    for r in found:
        task = r[0]
        recipients = org_queries.nearest_managers(r[4], managers, {task.owner_id})
        leader = leaders.get(r[5])
        if leader is not None and leader.id != task.owner_id:
            recipients = [leader, *recipients]
        for user in recipients:
            candidates.append((Kind.ESCALATION, user, f"escalation:{task.id}:{task.deadline}:u{user.id}", r))
    return _build(candidates, clock)


def ongoing(clock: Clock) -> list[dict]:
    """Ongoing (长期坚持) measures without a period: a progress reminder each month, from the month after
    assignment. Those with a period (阶段性销号) get `period_due` and `period_missed` instead."""
    local = clock.local_now()
    # Compared in UTC: SQLite stores the UTC wall time and ignores an offset on the parameter.
    month_start = datetime.combine(local.date().replace(day=1), time(), tzinfo=clock.tz).astimezone(UTC)
    found = _task_rows(Task.type == TaskType.ONGOING, Task.period.is_(None), Task.created_at < month_start)
    month = f"{local:%Y-%m}"
    return _build([(Kind.ONGOING, r[1], f"ongoing:{r[0].id}:{month}:u{r[1].id}", r) for r in found], clock)


def _period_rows(candidates, clock: Clock) -> list[dict]:
    """Like _build, for a period's messages: (kind, recipient, key, task row, period start, period end)."""
    known = outbox.existing_keys(c[2] for c in candidates)
    today, rows, seen = clock.today(), [], set()
    for kind, user, key, r, start, end in candidates:
        if key in known or key in seen or not user.active:
            continue
        seen.add(key)
        task = r[0]
        item = messages.make_item(task, number=r[2], unit=r[3], owner=r[1].name, today=today)
        label = period_label(task.period, start, user.language or "zh")
        message = messages.render(kind, user, item=item, period=label, period_end=end)
        values = outbox.row(kind, user, key, clock, message, task=task)
        values["deadline"] = start  # the period it is about: moot once that period has a result
        rows.append(values)
    return rows


def period_due(clock: Clock) -> list[dict]:
    """阶段性销号: within DUE_SOON_DAYS of the end of the current period, nothing submitted for it yet — its
    owner, once per period."""
    today, candidates = clock.today(), []
    for kind in PeriodKind:
        start, end = period_of(kind, today)
        if (end - today).days > _cfg("DUE_SOON_DAYS"):
            continue
        live = sa.select(TaskPeriod.id).where(TaskPeriod.task_id == Task.id, TaskPeriod.period_start == start,
                                              TaskPeriod.state.in_(periods.LIVE))
        for r in _task_rows(Task.type == TaskType.ONGOING, Task.period == kind, ~live.exists()):
            key = f"period_due:{r[0].id}:{start}:u{r[1].id}"
            candidates.append((Kind.PERIOD_DUE, r[1], key, r, start, end))
    return _period_rows(candidates, clock)


def period_missed(clock: Clock) -> list[dict]:
    """The last ended period has no result: the owner and the nearest managers, once per period."""
    today = clock.today()
    found = _task_rows(periods.missed_clause(today))
    if not found:
        return []
    managers, candidates = org_queries.managers_by_unit(), []
    for r in found:
        task = r[0]
        start, end = previous_period(task.period, today)
        for user in [r[1], *org_queries.nearest_managers(r[4], managers, {task.owner_id})]:
            candidates.append((Kind.PERIOD_MISSED, user, f"period_missed:{task.id}:{start}:u{user.id}", r,
                               start, end))
    return _period_rows(candidates, clock)


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
    return _task_rows(Task.awaiting_ack_clause(), Task.assigned_at <= cutoff)


def _assignment(task: Task) -> str:
    """One assignment of a measure to one owner (a reassignment is a new one)."""
    return f"{task.assigned_at:%Y%m%d%H%M%S}"


def ack_due(clock: Clock) -> list[dict]:
    """Not signed for (签收) ACK_WITHIN_DAYS after assignment: the owner, once per assignment."""
    found = _not_signed_for(clock, "ACK_WITHIN_DAYS")
    return _build([(Kind.ACK_DUE, r[1], f"ack_due:{r[0].id}:{_assignment(r[0])}:u{r[1].id}", r)
                   for r in found], clock)


def ack_escalation(clock: Clock) -> list[dict]:
    """Still not signed for ACK_ESCALATE_AFTER_DAYS after assignment: the unit's managers, once."""
    found = _not_signed_for(clock, "ACK_ESCALATE_AFTER_DAYS")
    if not found:
        return []
    managers = org_queries.managers_by_unit()
    candidates = []
    for r in found:
        task = r[0]
        for user in org_queries.nearest_managers(r[4], managers, {task.owner_id}):
            key = f"ack_escalation:{task.id}:{_assignment(task)}:o{task.owner_id}:u{user.id}"
            candidates.append((Kind.ACK_ESCALATION, user, key, r))
    return _build(candidates, clock)


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
