"""Who sees and may change what (DESIGN §3 "Scope and permissions"), for objects and for queries.

Every list, object lookup and service goes through these functions, so the rule exists once.
"""

from __future__ import annotations

import sqlalchemy as sa

from tracker.enums import Role
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.tasks.models import Task


def subtree_ids(unit: Unit):
    """A subquery of the ids of `unit` and every unit below it (one prefix match on `path`)."""
    return sa.select(Unit.id).where(Unit.path.startswith(unit.path, autoescape=True)).scalar_subquery()


def covers(actor: User, unit: Unit | None) -> bool:
    """True when `unit` lies in the actor's subtree (admins cover everything)."""
    if actor.role == Role.ADMIN:
        return True
    if unit is None or actor.unit is None:
        return False
    return unit.path.startswith(actor.unit.path)


def manages(actor: User, unit: Unit | None) -> bool:
    """Managers write everything in their subtree; admins everywhere."""
    if actor.role == Role.ADMIN:
        return True
    return actor.role == Role.MANAGER and covers(actor, unit)


# --- tasks ---------------------------------------------------------------------------------


def task_clause(actor: User):
    """WHERE clause restricting tasks to what `actor` may read."""
    if actor.role == Role.ADMIN:
        return sa.true()
    if actor.unit is None:
        return Task.owner_id == actor.id
    return sa.or_(Task.unit_id.in_(subtree_ids(actor.unit)), Task.owner_id == actor.id)


def can_read_task(actor: User, task: Task) -> bool:
    return task.owner_id == actor.id or covers(actor, task.unit)


def can_work_on_task(actor: User, task: Task) -> bool:
    """Post progress, submit, ask for an extension: the owner or a manager of the task's unit."""
    return task.owner_id == actor.id or manages(actor, task.unit)


def can_manage_task(actor: User, task: Task) -> bool:
    """Verify, reject, cancel, reassign, change the deadline, decide extensions."""
    return manages(actor, task.unit)


# --- problems ------------------------------------------------------------------------------


def problem_clause(actor: User):
    """WHERE clause restricting problems to what `actor` may read.

    A problem is visible from the unit where it was found, from its lead unit, and to
    anybody who owns one of its measures.
    """
    if actor.role == Role.ADMIN:
        return sa.true()
    owns_a_task = sa.exists().where(Task.problem_id == Problem.id, Task.owner_id == actor.id)
    if actor.unit is None:
        return owns_a_task
    units = subtree_ids(actor.unit)
    return sa.or_(Problem.unit_id.in_(units), Problem.lead_unit_id.in_(units), owns_a_task)


def can_read_problem(actor: User, problem: Problem) -> bool:
    return (
        covers(actor, problem.unit)
        or covers(actor, problem.lead_unit)
        or any(t.owner_id == actor.id for t in problem.tasks)
    )


def can_edit_problem(actor: User, problem: Problem) -> bool:
    return manages(actor, problem.unit) or manages(actor, problem.lead_unit)


def can_create_problems(actor: User) -> bool:
    return actor.role in (Role.ADMIN, Role.MANAGER)


def unit_clause(actor: User):
    """Units an actor may pick or read: their subtree (admins: all)."""
    if actor.role == Role.ADMIN or actor.unit is None:
        return sa.true() if actor.role == Role.ADMIN else sa.false()
    return Unit.path.startswith(actor.unit.path, autoescape=True)
