"""Who sees and may change what (DESIGN §3 "Scope and permissions"), for objects and for queries.

Every list, object lookup and service goes through these functions, so the rule exists once.
"""

from __future__ import annotations

import sqlalchemy as sa

from tracker.enums import Role
from tracker.extensions import MAX_ID, db
from tracker.i18n import lazy_gettext as _l
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

    A problem is visible from the unit where it was found, from its lead unit, and to anybody
    who may read one of its measures (its page then lists only those measures): whoever sees a
    measure on the task page may open its problem.
    """
    if actor.role == Role.ADMIN:
        return sa.true()
    a_task_in_scope = sa.exists().where(Task.problem_id == Problem.id, task_clause(actor))
    if actor.unit is None:
        return a_task_in_scope
    units = subtree_ids(actor.unit)
    return sa.or_(Problem.unit_id.in_(units), Problem.lead_unit_id.in_(units), a_task_in_scope)


def can_read_problem(actor: User, problem: Problem) -> bool:
    return (
        covers(actor, problem.unit)
        or covers(actor, problem.lead_unit)
        or any(can_read_task(actor, t) for t in problem.tasks)
    )


def can_edit_problem(actor: User, problem: Problem) -> bool:
    return manages(actor, problem.unit) or manages(actor, problem.lead_unit)


def can_create_problems(actor: User) -> bool:
    return actor.role in (Role.ADMIN, Role.MANAGER)


# --- references a user supplies (DESIGN §3: out of scope answers like nonexistent) -------------

# The one answer for an id that does not exist and for one outside the actor's scope, so that
# ids cannot be probed through forms, bodies or ledgers either.
NO_SUCH = {
    "unit": _l("No such unit."),
    "person": _l("No such person."),
    "source": _l("No such source."),
    "category": _l("No such category."),
    "problem": _l("No such problem."),
}


def lookup(model, object_id: int | None, field: str, errors: dict, kind: str):
    """The row a user-supplied id names, or None with NO_SUCH[kind] recorded for `field`.

    Only existence is checked here; the services check scope and answer the same words.
    """
    if object_id is None:
        return None
    obj = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if obj is None:
        errors.setdefault(field, []).append(NO_SUCH[kind])
    return obj


def may_pick_unit(actor: User, unit: Unit | None) -> bool:
    """A unit the actor may name in a form, body or ledger: one of their subtree (admins: any)."""
    return unit is not None and covers(actor, unit)


def may_pick_person(actor: User, person: User | None) -> bool:
    """A person the actor may name as owner, leader or responsible person: one of their subtree."""
    if person is None:
        return False
    return actor.role == Role.ADMIN or (person.unit is not None and covers(actor, person.unit))


def ancestor_ids(unit: Unit) -> list[int]:
    """The ids of the units above `unit` (read off its path), nearest last."""
    return [int(part) for part in unit.path.strip("/").split("/")[:-1] if part]


def may_pick_leader(actor: User, person: User | None) -> bool:
    """A responsible leader (责任领导) is often a leader above the actor's unit (分管领导): one of the
    actor's subtree or of the units above it, who already see everything of the actor's."""
    if may_pick_person(actor, person):
        return True
    return (person is not None and person.unit is not None and actor.unit is not None
            and actor.unit.path.startswith(person.unit.path))


def may_pick_source(actor: User, source) -> bool:
    """A source recorded by one of the actor's units (admins: any)."""
    return source is not None and covers(actor, source.unit)


def unit_clause(actor: User):
    """Units an actor may pick or read: their subtree (admins: all)."""
    if actor.role == Role.ADMIN or actor.unit is None:
        return sa.true() if actor.role == Role.ADMIN else sa.false()
    return Unit.path.startswith(actor.unit.path, autoescape=True)
