"""Rules for problems (问题清单/责任清单), sources and categories."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import sqlalchemy as sa

from tracker import scope
from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import ProblemState, Role, SourceKind
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem, Source
from tracker.tasks.services import MAX_TEXT, check_version

PROBLEM_FIELDS = (
    "number", "description", "category_id", "source_id", "unit_id", "found_on",
    "responsible_leader_id", "lead_unit_id", "responsible_person_id", "cooperating_unit_ids",
)


def _highest_number(prefix: str) -> int:
    existing = db.session.scalars(sa.select(Problem.number).where(Problem.number.startswith(prefix)))
    return max((int(n[len(prefix):]) for n in existing if n[len(prefix):].isdigit()), default=0)


def next_number(clock: Clock) -> str:
    """The next free number of the year, e.g. "2026-007"."""
    prefix = f"{clock.today().year}-"
    return f"{prefix}{_highest_number(prefix) + 1:03d}"


class ProblemNumbers:
    """Numbers of many new problems recorded one after another (a ledger import), in a few queries:
    `used` and `take` answer as the clash check and `next_number` would once each earlier problem of
    the batch was created, without a query per problem."""

    def __init__(self, clock: Clock, given: Iterable[str]):
        self.prefix = f"{clock.today().year}-"
        self.highest = _highest_number(self.prefix)
        given = list(dict.fromkeys(n.strip() for n in given if n and n.strip()))
        self.taken: set[str] = set()
        for i in range(0, len(given), 500):
            chunk = given[i:i + 500]
            self.taken.update(db.session.scalars(sa.select(Problem.number).where(Problem.number.in_(chunk))))

    def used(self, number: str) -> bool:
        return number in self.taken

    def take(self, number: str | None) -> str:
        """The number a new problem gets (the one given, else the year's next); used from now on."""
        number = (number or "").strip() or f"{self.prefix}{self.highest + 1:03d}"
        self.taken.add(number)
        suffix = number[len(self.prefix):]
        if number.startswith(self.prefix) and suffix.isdigit():
            self.highest = max(self.highest, int(suffix))
        return number


def _validate(actor: User, clock: Clock, data: dict, problem: Problem | None,
              number_used: Callable[[str], bool] | None = None) -> dict:
    errors: dict = {}

    def err(field, message):
        errors.setdefault(field, []).append(message)

    number = (data.get("number") or "").strip()
    if len(number) > 40:
        err("number", _l("At most %(n)s characters.", n=40))
    elif number:
        if number_used is None:
            clash = db.session.scalar(sa.select(Problem.id).where(Problem.number == number))
            used = bool(clash and (problem is None or clash != problem.id))
        else:
            used = number_used(number)
        if used:
            err("number", _l("Number %(number)s is already used.", number=number))
    description = (data.get("description") or "").strip()
    if not description:
        err("description", _l("Describe the problem."))
    elif len(description) > MAX_TEXT:
        err("description", _l("At most %(n)s characters.", n=MAX_TEXT))
    if data.get("category") is None:
        err("category", _l("Choose a category."))
    source = data.get("source")
    if source is None:
        err("source", _l("Choose where the problem came from."))
    unit = data.get("unit")
    if unit is None:
        err("unit", _l("Choose the unit where the problem was found."))
    lead = data.get("lead_unit")
    if lead is None:
        err("lead_unit", _l("Choose the lead unit."))
    found_on = data.get("found_on")
    if found_on is None:
        err("found_on", _l("Give the date the problem was found."))
    elif found_on > clock.today():
        err("found_on", _l("The date found cannot be in the future."))
    _check_references(actor, data, problem, err)  # first: nothing about an out-of-scope one is told
    for field in ("responsible_leader", "responsible_person"):
        person = data.get(field)
        if person is not None and field not in errors and not person.active:
            err(field, _l("%(name)s is deactivated.", name=person.name))
    leader = data.get("responsible_leader")
    if leader is not None and "responsible_leader" not in errors and leader.role == Role.STAFF:
        err("responsible_leader", _l("The responsible leader must be a manager or a leader."))
    if lead is not None and lead in (data.get("cooperating_units") or []):
        err("cooperating_units", _l("The lead unit cannot also be a cooperating unit."))
    return errors


def _check_references(actor: User, data: dict, problem: Problem | None, err) -> None:
    """Every unit, source, person and category named must lie in the actor's scope (a value the
    problem already has may stay); anything else answers exactly as an id that does not exist."""
    def kept(field, obj) -> bool:
        return problem is not None and obj is getattr(problem, field)

    checks = (("unit", "unit", scope.manages), ("lead_unit", "unit", scope.may_pick_unit),
              ("source", "source", scope.may_pick_source),
              ("responsible_leader", "person", scope.may_pick_leader),
              ("responsible_person", "person", scope.may_pick_person))
    for field, kind, allowed in checks:
        obj = data.get(field)
        if obj is not None and not kept(field, obj) and not allowed(actor, obj):
            err(field, scope.NO_SUCH[kind])
    stored = set(problem.cooperating_units) if problem is not None else set()
    named = data.get("cooperating_units") or ()
    if any(u not in stored and not scope.may_pick_unit(actor, u) for u in named):
        err("cooperating_units", scope.NO_SUCH["unit"])
    category = data.get("category")
    if category is not None and not category.active and not kept("category", category):
        err("category", scope.NO_SUCH["category"])


def _apply(problem: Problem, data: dict, clock: Clock) -> None:
    problem.number = (data.get("number") or "").strip() or problem.number or next_number(clock)
    problem.description = data["description"].strip()
    problem.category = data["category"]
    problem.source = data["source"]
    problem.unit = data["unit"]
    problem.lead_unit = data["lead_unit"]
    problem.found_on = data["found_on"]
    problem.responsible_leader = data.get("responsible_leader")
    problem.responsible_person = data.get("responsible_person")
    problem.cooperating_units = list(data.get("cooperating_units") or [])


def _snapshot(problem: Problem) -> dict:
    snap = audit.snapshot(problem, PROBLEM_FIELDS[:-1])
    snap["cooperating_unit_ids"] = sorted(u.id for u in problem.cooperating_units)
    return snap


def create_problem(actor: User, clock: Clock, **data) -> Problem:
    """Record a problem with its responsibility fields.

    `data`: number (optional, generated), description, category, source, unit, lead_unit,
    found_on, responsible_leader, responsible_person, cooperating_units.
    """
    check_new_problem(actor, clock, data)
    problem = Problem(created_at=clock.now(), created_by_id=actor.id)
    _apply(problem, data, clock)
    db.session.add(problem)
    db.session.flush()
    audit.record(actor, clock, "problem.create", problem, after=_snapshot(problem), problem_id=problem.id)
    return problem


def check_new_problem(actor: User, clock: Clock, data: dict, *,
                      number_used: Callable[[str], bool] | None = None) -> None:
    """What `create_problem` refuses, without creating anything: PermissionDenied or ValidationFailed.
    `number_used(number)` answers instead of the query for a clash (ProblemNumbers.used in bulk)."""
    if not scope.can_create_problems(actor):
        raise PermissionDenied(_l("Only managers may record problems."))
    errors = _validate(actor, clock, data, None, number_used)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)


def new_problem_row(actor: User, clock: Clock, data: dict, number: str) -> dict:
    """The columns `create_problem` writes for checked `data`, for a bulk insert; the cooperating units
    come as "cooperating_unit_ids" (not a column: the caller inserts those links)."""
    leader, person = data.get("responsible_leader"), data.get("responsible_person")
    return dict(number=number, description=data["description"].strip(), category_id=data["category"].id,
                source_id=data["source"].id, unit_id=data["unit"].id, lead_unit_id=data["lead_unit"].id,
                found_on=data["found_on"], responsible_leader_id=leader.id if leader else None,
                responsible_person_id=person.id if person else None, state=ProblemState.OPEN,
                closed_on=None, rebounded_at=None, version=1, created_at=clock.now(), created_by_id=actor.id,
                cooperating_unit_ids=sorted({u.id for u in data.get("cooperating_units") or ()}))


def new_problem_snapshot(row: dict) -> dict:
    """The audit snapshot of the problem created from `row` (what `_snapshot` reads off the object)."""
    snap = audit.snapshot_values({name: row[name] for name in PROBLEM_FIELDS[:-1]})
    snap["cooperating_unit_ids"] = list(row["cooperating_unit_ids"])
    return snap


def update_problem(problem: Problem, actor: User, clock: Clock, *, expected_version: int | None,
                   **data) -> Problem:
    """Edit a problem and its responsibility fields."""
    if not scope.can_edit_problem(actor, problem):
        raise PermissionDenied(_l("Only a manager of this problem's unit may edit it."))
    check_version(problem, expected_version)
    errors = _validate(actor, clock, data, problem)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    before = _snapshot(problem)
    _apply(problem, data, clock)
    db.session.flush()
    old, new = audit.changed(before, _snapshot(problem))
    if new:
        audit.record(actor, clock, "problem.update", problem, before=old, after=new, problem_id=problem.id)
    return problem


# --- sources and categories ---------------------------------------------------------------------


def save_source(actor: User, clock: Clock, *, name: str, kind: SourceKind | str | None, unit: Unit | None,
                held_on: date | None, source: Source | None = None) -> Source:
    """Create or edit a problem source (inspection, meeting, audit…)."""
    name, kind = check_source(actor, clock, name=name, kind=kind, unit=unit, held_on=held_on, source=source)
    fields = ("name", "kind", "unit_id", "held_on")
    before = audit.snapshot(source, fields) if source else {}
    if source is None:
        source = Source(created_at=clock.now())
        db.session.add(source)
    source.name, source.kind, source.unit_id, source.held_on = name, kind, unit.id, held_on
    db.session.flush()
    old, new = audit.changed(before, audit.snapshot(source, fields))
    audit.record(actor, clock, "source.update" if before else "source.create", source, before=old, after=new)
    return source


def check_source(actor: User, clock: Clock, *, name: str, kind: SourceKind | str | None, unit: Unit | None,
                 held_on: date | None, source: Source | None = None) -> tuple[str, SourceKind]:
    """What `save_source` refuses (PermissionDenied, ValidationFailed); else the clean name and kind."""
    if actor.role not in (Role.ADMIN, Role.MANAGER):
        raise PermissionDenied(_l("Only managers may record sources."))
    errors: dict = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_l("Name is required.")]
    elif len(name) > 200:
        errors["name"] = [_l("At most %(n)s characters.", n=200)]
    try:
        kind = SourceKind(kind)
    except ValueError:
        errors["kind"] = [_l("Choose a kind.")]
    if unit is None:
        errors["unit"] = [_l("Choose a unit.")]
    elif not scope.manages(actor, unit):
        errors["unit"] = [scope.NO_SUCH["unit"]]
    if source is not None and not scope.manages(actor, source.unit):
        raise PermissionDenied(_l("This source belongs to a unit outside your scope."))
    if held_on is None:
        errors["held_on"] = [_l("Give the date.")]
    elif held_on > clock.today():
        errors["held_on"] = [_l("The date cannot be in the future.")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    return name, kind


def save_category(actor: User, clock: Clock, *, name: str, sort_order: int = 0, active: bool = True,
                  category: Category | None = None) -> Category:
    """Admins maintain the category list; a used category is deactivated, never deleted."""
    if actor.role != Role.ADMIN:
        raise PermissionDenied(_l("Only administrators may change categories."))
    name = (name or "").strip()
    errors: dict = {}
    if not name:
        errors["name"] = [_l("Name is required.")]
    elif len(name) > 60:
        errors["name"] = [_l("At most %(n)s characters.", n=60)]
    else:
        clash = db.session.scalar(sa.select(Category.id).where(Category.name == name))
        if clash and (category is None or clash != category.id):
            errors["name"] = [_l("This category already exists.")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    fields = ("name", "sort_order", "active")
    before = audit.snapshot(category, fields) if category else {}
    if category is None:
        category = Category()
        db.session.add(category)
    category.name, category.sort_order, category.active = name, int(sort_order or 0), bool(active)
    db.session.flush()
    old, new = audit.changed(before, audit.snapshot(category, fields))
    audit.record(actor, clock, "category.update" if before else "category.create", category,
                 before=old, after=new)
    return category


def delete_source(actor: User, clock: Clock, source: Source) -> None:
    """Remove a source recorded by mistake; one that problems came from is kept."""
    if not scope.manages(actor, source.unit):
        raise PermissionDenied(_l("This source belongs to a unit outside your scope."))
    if db.session.scalar(sa.select(sa.exists().where(Problem.source_id == source.id))):
        raise ValidationFailed(_l("Problems were recorded from %(name)s; it cannot be deleted.",
                                  name=source.name))
    audit.record(actor, clock, "source.delete", source,
                 before=audit.snapshot(source, ("name", "kind", "unit_id", "held_on")))
    db.session.delete(source)
    db.session.flush()


def delete_category(actor: User, clock: Clock, category: Category) -> None:
    """Remove an unused category; a used one must be deactivated instead, so old problems keep it."""
    if actor.role != Role.ADMIN:
        raise PermissionDenied(_l("Only administrators may change categories."))
    if db.session.scalar(sa.select(sa.exists().where(Problem.category_id == category.id))):
        raise ValidationFailed(_l("%(name)s is used by problems; deactivate it instead.", name=category.name))
    audit.record(actor, clock, "category.delete", category,
                 before=audit.snapshot(category, ("name", "sort_order", "active")))
    db.session.delete(category)
    db.session.flush()


DEFAULT_CATEGORIES = ("政治建设", "思想建设", "组织建设", "作风建设", "纪律建设", "制度建设",
                      "意识形态", "党风廉政", "业务工作")


def seed_categories() -> None:
    """The seeded category list of DESIGN §2, added once to an empty table."""
    if db.session.scalar(sa.select(sa.func.count(Category.id))):
        return
    for i, name in enumerate(DEFAULT_CATEGORIES):
        db.session.add(Category(name=name, sort_order=i))
    db.session.flush()
