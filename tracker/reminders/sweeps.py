"""Within a day, a date-driven reminder rule looks only at the measures changed since it last looked.

The rules due soon, overdue, escalation and ongoing want the same messages all day long unless a
measure, its problem, or the people and units change: their keys are made of the measure's fields, the
day (its week, its month) and the recipients (the owner, the problem's responsible leader, the nearest
managers). So the first pass of a day sweeps every candidate, as a pass always did, and records it
(`ReminderSweep`); the passes after it, every REMINDER_INTERVAL_SECONDS, read only the measures whose
`changed_at`, or whose problem's, is later than the last recorded pass's start less MARGIN. An idle pass
then costs what changed, not what is overdue. A new day, a new reference stamp (a unit, a person, a
role changed: managers are recipients), or no record, and the rule sweeps everything again.

`changed_at` is stamped by SQLAlchemy on every INSERT and UPDATE (ORM or Core), in real time, when the
statement runs, not when it commits. MARGIN covers a transaction that stamped a change before a pass
began and committed after that pass read; one longer than MARGIN is caught by the next day's sweep.
A pass that fails records nothing: the next one looks again from the same point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from tracker import refdata
from tracker.clock import Clock, utcnow
from tracker.extensions import db, insert
from tracker.problems.models import Problem
from tracker.reminders.models import ReminderSweep
from tracker.tasks.models import Task

MARGIN = timedelta(minutes=15)


@dataclass(frozen=True)
class Window:
    """What one pass of one rule reads: every candidate (`since` None) or those changed since `since`."""

    rule: str
    today: date
    started_at: datetime
    stamp: str | None
    since: datetime | None


def window(rule: str, clock: Clock) -> Window:
    stamp = db.session.scalar(sa.select(refdata.stamp_subquery()))
    started_at, today = utcnow(), clock.today()
    last = db.session.get(ReminderSweep, rule, populate_existing=True)
    since = None
    if last is not None and last.swept_on == today and last.stamp == stamp:
        last_start = last.started_at if last.started_at.tzinfo else last.started_at.replace(tzinfo=UTC)
        since = last_start - MARGIN
    return Window(rule, today, started_at, stamp, since)


def changed_ids(since: datetime) -> list[int]:
    """The measures changed since `since`, or whose problem was: two index range reads."""
    tasks = db.session.scalars(sa.select(Task.id).where(Task.changed_at >= since))
    via_problem = db.session.scalars(sa.select(Task.id).join(Problem, Problem.id == Task.problem_id)
                                     .where(Problem.changed_at >= since))
    return sorted({*tasks, *via_problem})


def record(w: Window) -> None:
    """The rule has looked at everything of `w` (in the caller's transaction)."""
    values = {"swept_on": w.today, "started_at": w.started_at, "stamp": w.stamp}
    db.session.execute(insert(ReminderSweep).values(rule=w.rule, **values)
                       .on_conflict_do_update(index_elements=["rule"], set_=values))
