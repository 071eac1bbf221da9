"""The weekly digest: one message per person with open measures; managers add their subtree's figures.

Built from a handful of queries whatever the number of people: open tasks joined to their
owners once, the managers once, the figures by unit and state from one grouped query
(summed per manager by unit path in Python), and the week's existing keys once.
"""

from __future__ import annotations

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


def _open_tasks(today):
    """Every open task of a person who wants the digest, with names: one query."""
    return db.session.execute(
        sa.select(Task, User, Problem.number, Unit.name)
        .join(User, User.id == Task.owner_id)
        .join(Problem, Problem.id == Task.problem_id)
        .join(Unit, Unit.id == Task.unit_id)
        .where(Task.state.in_(OPEN_STATES), User.active.is_(True), User.weekly_digest.is_(True))
        .order_by(User.id, Task.deadline, Task.id)
    ).all()


def _figures(today):
    """Open tasks counted by unit, state and overdue: one grouped query."""
    overdue = sa.case((Task.overdue_clause(today), 1), else_=0)
    return db.session.execute(
        sa.select(Unit.path, Unit.name, Task.state, overdue.label("overdue"), sa.func.count(Task.id))
        .join(Unit, Unit.id == Task.unit_id)
        .where(Task.state.in_(OPEN_STATES))
        .group_by(Unit.path, Unit.name, Task.state, overdue)
    ).all()


def _summary(unit_name: str, path: str, figures) -> Summary | None:
    """The manager's subtree figures, summed by unit path."""
    states: dict[TaskState, int] = {}
    by_unit: dict[tuple[str, str], int] = {}
    total = overdue = 0
    for unit_path, name, state, is_overdue, n in figures:
        if not unit_path.startswith(path):
            continue
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


def queued_this_week(clock: Clock) -> bool:
    """True once this week's digest run has queued anything: a later pass builds none again."""
    return bool(db.session.scalar(sa.select(sa.exists().where(_of_week(week_label(clock))))))


def digest(clock: Clock) -> list[dict]:
    """The week's digest rows for everybody who has something in it and wants it."""
    today, week = clock.today(), week_label(clock)
    known = _existing(week)
    people: dict[int, User] = {}
    items: dict[int, list] = {}
    for task, user, number, unit_name in _open_tasks(today):
        people[user.id] = user
        items.setdefault(user.id, []).append(
            messages.make_item(task, number=number, unit=unit_name, owner=user.name, today=today))
    managers = db.session.execute(
        sa.select(User, Unit.path, Unit.name).join(Unit, Unit.id == User.unit_id)
        .where(User.role == Role.MANAGER, User.active.is_(True), User.weekly_digest.is_(True))
    ).all()
    figures = _figures(today) if managers else []
    summaries = {}
    for manager, path, unit_name in managers:
        summary = _summary(unit_name, path, figures)
        if summary is not None:
            people[manager.id] = manager
            summaries[manager.id] = summary
    rows = []
    for user_id in sorted(people):
        key = f"digest:{user_id}:{week}"
        if key in known:
            continue
        user = people[user_id]
        message = messages.render(NotificationKind.DIGEST, user, week=week,
                                  sections=_sections(items.get(user_id, []), today),
                                  summary=summaries.get(user_id))
        rows.append(outbox.row(NotificationKind.DIGEST, user, key, clock, message))
    return rows
