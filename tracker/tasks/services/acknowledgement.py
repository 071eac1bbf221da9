"""签收: the owner confirms they received a measure (DESIGN §3 "Supervision").

A click on the task page, the link in the assignment email or the API signs for it; so does the
owner's first piece of work on it (starting, a progress note, a submission, an extension request).
"""

from __future__ import annotations

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.org.models import User
from tracker.tasks import rules
from tracker.tasks.models import Task
from tracker.tasks.services.common import check_version


def acknowledge(task: Task, actor: User, clock: Clock, *, expected_version: int | None = None) -> Task:
    """The owner signs for the measure (签收)."""
    rules.require(task, actor, "acknowledge", check_condition=False)
    check_version(task, expected_version)
    rules.require(task, actor, "acknowledge")
    _sign(task, actor, clock, implicit=False)
    return task


def acknowledge_by_working(task: Task, actor: User, clock: Clock) -> None:
    """The owner's first work on a measure that waits for their 签收 signs for it."""
    if rules.allowed(task, actor, "acknowledge"):
        _sign(task, actor, clock, implicit=True)


def _sign(task: Task, actor: User, clock: Clock, *, implicit: bool) -> None:
    task.acknowledged_at = clock.now()
    after = audit.snapshot_values({"acknowledged_at": task.acknowledged_at, "implicit": implicit})
    audit.record(actor, clock, "task.acknowledge", task, after=after, task_id=task.id,
                 problem_id=task.problem_id)
