"""A unit's chain of verification steps (多级审核): reading the chain that applies, and setting one.

A unit's measures go through the chain of the unit itself or, when it has none, of the nearest unit
above it that has one; with none on the way, the default single step (a manager of the measure's
unit or above, today's rule). Every reviewer a step names sits on the chain unit's own line (the unit
or a unit above it), so whoever decides a step can read the measures it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from tracker import scope
from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import Role
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.review.models import ReviewStep, StepKind

MAX_STEPS = 5
MAX_LABEL = 60
REVIEWER_ROLES = (Role.ADMIN, Role.MANAGER, Role.VIEWER)


@dataclass(frozen=True)
class Step:
    """A step as configured (before it is stored or copied onto a submission)."""

    kind: StepKind
    label: str
    reviewer_unit: Unit | None = None
    reviewer: User | None = None


DEFAULT = (Step(StepKind.MANAGERS, ""),)


def own_steps(unit: Unit) -> list[ReviewStep]:
    """The steps set on `unit` itself (empty: it uses the chain above it)."""
    return list(db.session.scalars(sa.select(ReviewStep).where(ReviewStep.unit_id == unit.id)
                                   .order_by(ReviewStep.position)))


def chains_for(units: list[Unit]) -> dict[int, tuple[int | None, list[ReviewStep]]]:
    """For each unit: the id of the unit whose chain applies (itself or the nearest above with one;
    None for the default) and that chain's steps. Two queries however many units (reviewers loaded)."""
    lines = {u.id: [*scope.ancestor_ids(u), u.id] for u in units}
    wanted = {i for line in lines.values() for i in line}
    steps: dict[int, list[ReviewStep]] = {}
    for row in db.session.scalars(
            sa.select(ReviewStep).where(ReviewStep.unit_id.in_(wanted))
            .options(selectinload(ReviewStep.reviewer_unit), selectinload(ReviewStep.reviewer))
            .order_by(ReviewStep.unit_id, ReviewStep.position)):
        steps.setdefault(row.unit_id, []).append(row)
    found = {}
    for unit_id, line in lines.items():
        source = next((i for i in reversed(line) if i in steps), None)
        found[unit_id] = (source, steps.get(source, []))
    return found


def chain_for(unit: Unit) -> tuple[Unit | None, tuple[Step, ...]]:
    """The unit whose chain applies to `unit`'s measures (None: the default) and its steps."""
    source, steps = chains_for([unit])[unit.id]
    if source is None:
        return None, DEFAULT
    owner = unit if source == unit.id else db.session.get(Unit, source)
    return owner, tuple(Step(s.kind, s.label, s.reviewer_unit, s.reviewer) for s in steps)


def may_configure(actor: User, unit: Unit) -> bool:
    """Administrators, and the managers of the unit or a unit above it."""
    return scope.manages(actor, unit)


def on_line(unit: Unit, other: Unit | None) -> bool:
    """`other` is `unit` or a unit above it: its managers read every measure of `unit`'s subtree."""
    return other is not None and unit.path.startswith(other.path)


def _int(value, field: str, errors: dict, index: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or not 0 < number <= MAX_ID:
        errors.setdefault(f"steps.{index}.{field}", []).append(_l("Not a valid id."))
        return None
    return number


def parse_steps(unit: Unit, raw: list[dict]) -> list[Step]:
    """Check submitted steps ({kind, reviewer_unit_id, reviewer_id, label}) for `unit`'s chain.

    A reviewer off the unit's line answers like one that does not exist."""
    errors: dict = {}
    if not isinstance(raw, list):
        raise ValidationFailed(_l("Give the steps as a list."), {"steps": [_l("Give the steps as a list.")]})
    if len(raw) > MAX_STEPS:
        errors["steps"] = [_l("At most %(n)s steps.", n=MAX_STEPS)]
    steps: list[Step] = []
    for i, item in enumerate(raw[:MAX_STEPS], start=1):
        if not isinstance(item, dict):
            errors.setdefault(f"steps.{i}", []).append(_l("Each step is an object."))
            continue
        try:
            kind = StepKind(item.get("kind"))
        except ValueError:
            errors.setdefault(f"steps.{i}.kind", []).append(
                _l("Choose one of: %(values)s.", values=", ".join(k.value for k in StepKind)))
            continue
        label = item.get("label") or ""
        if not isinstance(label, str) or len(label.strip()) > MAX_LABEL:
            errors.setdefault(f"steps.{i}.label", []).append(_l("At most %(n)s characters.", n=MAX_LABEL))
            continue
        label = " ".join(label.split())
        if not label.isprintable():  # NUL, control characters, lone surrogates: PostgreSQL refuses them
            errors.setdefault(f"steps.{i}.label", []).append(_l("Contains characters that cannot be stored."))
            continue
        unit_id = _int(item.get("reviewer_unit_id"), "reviewer_unit_id", errors, i)
        person_id = _int(item.get("reviewer_id"), "reviewer_id", errors, i)
        reviewer_unit = reviewer = None
        if kind == StepKind.UNIT:
            reviewer_unit = db.session.get(Unit, unit_id) if unit_id else None
            if not on_line(unit, reviewer_unit):
                errors.setdefault(f"steps.{i}.reviewer_unit_id", []).append(
                    _l("Choose the unit whose managers decide this step.") if unit_id is None
                    else scope.NO_SUCH["unit"])
        elif kind == StepKind.PERSON:
            reviewer = db.session.get(User, person_id) if person_id else None
            if reviewer is None or not (reviewer.role == Role.ADMIN or on_line(unit, reviewer.unit)):
                errors.setdefault(f"steps.{i}.reviewer_id", []).append(
                    _l("Choose the person who decides this step.") if person_id is None
                    else scope.NO_SUCH["person"])
            elif not reviewer.active:
                errors.setdefault(f"steps.{i}.reviewer_id", []).append(
                    _l("%(name)s is deactivated.", name=reviewer.name))
            elif reviewer.role not in REVIEWER_ROLES:
                errors.setdefault(f"steps.{i}.reviewer_id", []).append(
                    _l("%(name)s is a staff member and cannot decide a step.", name=reviewer.name))
        steps.append(Step(kind, label, reviewer_unit, reviewer))
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    return steps


def default_label(step: Step) -> str:
    if step.kind == StepKind.UNIT:
        return str(_l("%(unit)s review", unit=step.reviewer_unit.name))
    if step.kind == StepKind.PERSON:
        return str(_l("Review by %(name)s", name=step.reviewer.name))
    return str(_l("Manager's review"))


def set_chain(actor: User, unit: Unit, raw: list[dict], clock: Clock) -> list[ReviewStep]:
    """Replace `unit`'s chain (an empty list removes it: the chain above applies again).

    The unit's row is locked first, so two editors in a race store one chain or the other, never a mix;
    submissions already under review keep the chain they were given."""
    steps = parse_steps(unit, raw)
    db.session.execute(sa.select(Unit.id).where(Unit.id == unit.id).with_for_update())
    before = [_describe(s) for s in own_steps(unit)]
    db.session.execute(sa.delete(ReviewStep).where(ReviewStep.unit_id == unit.id))
    rows = [ReviewStep(unit_id=unit.id, position=i, kind=s.kind, label=s.label or default_label(s),
                       reviewer_unit_id=s.reviewer_unit.id if s.reviewer_unit else None,
                       reviewer_id=s.reviewer.id if s.reviewer else None)
            for i, s in enumerate(steps, start=1)]
    db.session.add_all(rows)
    db.session.flush()
    audit.record(actor, clock, "review_chain.set", unit, before={"steps": before},
                 after={"steps": [_describe(r) for r in rows]})
    return rows


def _describe(step: ReviewStep) -> str:
    who = step.reviewer_unit_id if step.kind == StepKind.UNIT else step.reviewer_id
    return f"{step.position}:{step.kind.value}:{who or ''}:{step.label}"
