"""A problem's state follows its measures (DESIGN §3): the only writer of Problem.state."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import ProblemState, TaskState
from tracker.extensions import db
from tracker.org.models import User
from tracker.problems.models import Problem
from tracker.tasks.models import Task


def derive_problem_state(states: list[TaskState]) -> ProblemState:
    """Closed when every task is closed or cancelled and at least one is closed."""
    if states and all(s in (TaskState.CLOSED, TaskState.CANCELLED) for s in states):
        return ProblemState.CLOSED if TaskState.CLOSED in states else ProblemState.CANCELLED
    return ProblemState.OPEN


def refresh_problem_state(problem: Problem, actor: User | None, clock: Clock) -> None:
    """Recompute the stored problem state from its tasks, and record the change when there is one.

    Written with a plain UPDATE that leaves the problem's version alone: the state is derived, not
    edited, so closing the last measure must not make someone's open edit of the problem stale.
    """
    db.session.flush()
    rows = db.session.execute(
        sa.select(Task.state, Task.closed_on).where(Task.problem_id == problem.id)
    ).all()
    new_state = derive_problem_state([r.state for r in rows])
    closed_on = max((r.closed_on for r in rows if r.closed_on), default=None)
    new_closed_on = closed_on if new_state == ProblemState.CLOSED else None
    if problem.state == new_state and problem.closed_on == new_closed_on:
        return
    before = {"state": problem.state.value, "closed_on": problem.closed_on}
    db.session.execute(
        sa.update(Problem).where(Problem.id == problem.id)
        .values(state=new_state, closed_on=new_closed_on)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(problem, "state", new_state)
    set_committed_value(problem, "closed_on", new_closed_on)
    after = {"state": new_state.value, "closed_on": new_closed_on}
    old, new = audit.changed(audit.snapshot_values(before), audit.snapshot_values(after))
    audit.record(actor, clock, "problem.state", problem, before=old, after=new, problem_id=problem.id)
