"""The weekly digest: one message per person with open measures; managers add their subtree's figures.

Built from a handful of queries per batch of people whatever their number: the owners and the
managers once, the figures by unit and state from one grouped query (summed per manager by
unit path in Python), the week's existing keys once, then each batch's open measures.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from flask import current_app

from tracker.clock import Clock
from tracker.enums import OPEN_STATES, Role, TaskState
from tracker.extensions import db
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import messages, outbox
from tracker.reminders.models import Notification, NotificationKind
from tracker.tasks.models import Task

SOON = 7  # "then due within 7 days" (DESIGN), independent of the yellow light's DUE_SOON_DAYS


def week_label(clock: Clock) -> str:
    year, week, _ = clock.today().isocalendar()
    return f"{year}-W{week:02d}"


def digest_due(clock: Clock) -> bool:
    """True when WEEKLY_DIGEST_CRON fired within the last DIGEST_GRACE_HOURS (a late run still sends it)."""
    cfg = current_app.config
    trigger = CronTrigger.from_crontab(cfg["WEEKLY_DIGEST_CRON"], timezone=cfg["TIMEZONE"])
    now = clock.local_now()
    start = now - timedelta(hours=int(cfg.get("DIGEST_GRACE_HOURS", 24)))
    fire = trigger.get_next_fire_time(None, start)
    return fire is not None and fire <= now


@dataclass
class Summary:
    unit: str
    by_state: list = field(default_factory=list)
    overdue: int = 0
    overdue_by_unit: list = field(default_factory=list)
    open: int = 0


def _readers():
    """Who wants the digest: active people who asked for it."""
    return sa.and_(User.active.is_(True), User.weekly_digest.is_(True))


def _owners() -> list[int]:
    """The ids of the people with open measures who want the digest: one grouped query."""
    return list(db.session.scalars(
        sa.select(Task.owner_id).join(User, User.id == Task.owner_id)
        .where(Task.state.in_(OPEN_STATES), _readers()).group_by(Task.owner_id)))


def _open_tasks(owner_ids):
    """The open measures of `owner_ids` with their owner and names: one query."""
    return db.session.execute(
        sa.select(Task, User, Problem.number, Unit.name)
        .join(User, User.id == Task.owner_id)
        .join(Problem, Problem.id == Task.problem_id)
        .join(Unit, Unit.id == Task.unit_id)
        .where(Task.state.in_(OPEN_STATES), Task.owner_id.in_(owner_ids))
        .order_by(User.id, Task.deadline, Task.id)
    ).all()


class _Figures:
    """Open tasks counted by unit, state and overdue (one grouped query), sorted by unit path so a
    subtree's rows are one slice: a manager's summary reads its subtree, not every unit."""

    def __init__(self, today) -> None:
        overdue = sa.case((Task.overdue_clause(today), 1), else_=0)
        self.rows = sorted(db.session.execute(
            sa.select(Unit.path, Unit.name, Task.state, overdue.label("overdue"), sa.func.count(Task.id))
            .join(Unit, Unit.id == Task.unit_id)
            .where(Task.state.in_(OPEN_STATES))
            .group_by(Unit.path, Unit.name, Task.state, overdue)
        ).all(), key=lambda r: r[0])
        self.paths = [r[0] for r in self.rows]

    def within(self, path: str) -> list:
        """The rows of the units at and below `path` (paths are "/1/5/": a subtree is a prefix)."""
        return self.rows[bisect_left(self.paths, path):bisect_left(self.paths, path + "\uffff")]


def _summary(unit_name: str, path: str, figures: _Figures) -> Summary | None:
    """The manager's subtree figures, summed by unit path."""
    states: dict[TaskState, int] = {}
    by_unit: dict[tuple[str, str], int] = {}
    total = overdue = 0
    for unit_path, name, state, is_overdue, n in figures.within(path):
        states[state] = states.get(state, 0) + n
        total += n
        if is_overdue:
            overdue += n
            by_unit[(unit_path, name)] = by_unit.get((unit_path, name), 0) + n
    if not total:
        return None
    return Summary(unit=unit_name, open=total, overdue=overdue,
                   by_state=[(s, states[s]) for s in OPEN_STATES if s in states],
                   overdue_by_unit=[(name, n) for (p, name), n in sorted(by_unit.items())])


def _sections(items, today) -> list[tuple[str, list]]:
    """Overdue first, then due within 7 days, then the rest (each by deadline); titles are in the template."""
    overdue = [i for i in items if i.days_overdue]
    soon = [i for i in items if not i.days_overdue and i.deadline is not None
            and i.deadline <= today + timedelta(days=SOON)]
    rest = [i for i in items if not i.days_overdue and i not in soon]
    return [("overdue", overdue), ("soon", soon), ("rest", rest)]


def _of_week(week: str):
    """The digest rows of an ISO week (keys "digest:<user id>:<week>")."""
    return sa.and_(Notification.kind == NotificationKind.DIGEST,
                   Notification.dedupe_key.like(f"digest:%:{week}"))


def _existing(week: str) -> set[str]:
    return set(db.session.scalars(sa.select(Notification.dedupe_key).where(_of_week(week))))


PEOPLE_PER_BATCH = 200


def digest(clock: Clock) -> Iterator[list[dict]]:
    """The week's digest rows for everybody who has something in it, wants it and has not had it,
    PEOPLE_PER_BATCH people at a time: the memory held is one batch's measures, whatever the number
    of people. Each batch is committed on its own, so a pass that dies half way leaves the rest to
    the next pass (within DIGEST_GRACE_HOURS), which builds only what is missing."""
    today, week = clock.today(), week_label(clock)
    known = _existing(week)

    def key(user_id: int) -> str:
        return f"digest:{user_id}:{week}"
    managers = {m.id: (m, path, unit_name) for m, path, unit_name in db.session.execute(
        sa.select(User, Unit.path, Unit.name).join(Unit, Unit.id == User.unit_id)
        .where(User.role == Role.MANAGER, _readers())) if key(m.id) not in known}
    figures = _Figures(today) if managers else None  # only while a manager still waits for theirs
    summaries = {}
    for manager_id, (_m, path, unit_name) in managers.items():
        summary = _summary(unit_name, path, figures)
        if summary is not None:
            summaries[manager_id] = summary
    wanted = sorted(uid for uid in {*_owners(), *summaries} if key(uid) not in known)
    for start in range(0, len(wanted), PEOPLE_PER_BATCH):
        chunk = wanted[start:start + PEOPLE_PER_BATCH]
        people: dict[int, User] = {uid: managers[uid][0] for uid in chunk if uid in summaries}
        items: dict[int, list] = {}
        for task, user, number, unit_name in _open_tasks(chunk):
            people[user.id] = user
            items.setdefault(user.id, []).append(
                messages.make_item(task, number=number, unit=unit_name, owner=user.name, today=today))
        rows = []
        for user_id in chunk:
            user = people.get(user_id)
            if user is None:  # their last open measure closed since the count
                continue
            message = messages.render(NotificationKind.DIGEST, user, week=week,
                                      sections=_sections(items.get(user_id, []), today),
                                      summary=summaries.get(user_id))
            rows.append(outbox.row(NotificationKind.DIGEST, user, key(user_id), clock, message))
        if rows:
            yield rows
