"""Sources and problems (DESIGN §4): GET|POST /sources, GET|POST /problems, GET|PATCH /problems/{id}."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request
from sqlalchemy.orm import joinedload, selectinload

from tracker import scope
from tracker.api import schemas
from tracker.api.base import (
    actor,
    aliases,
    bp,
    created,
    get_or_404,
    not_found,
    paged,
    raise_errors,
    reference,
)
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems import queries
from tracker.problems import services as problems
from tracker.problems.models import Category, Problem, Source

# What problem_json reads besides the problem's own columns.
PROBLEM_OPTIONS = (joinedload(Problem.category), selectinload(Problem.cooperating_units))
PROBLEM_ALIASES = {
    "source": "source_id", "unit": "unit_id", "lead_unit": "lead_unit_id",
    "responsible_leader": "responsible_leader_id", "responsible_person": "responsible_person_id",
    "cooperating_units": "cooperating_unit_ids",
}


# --- sources ------------------------------------------------------------------------------------


def _source_clause(user: User):
    """Sources of the caller's subtree, and those that problems the caller may read came from."""
    if user.role == Role.ADMIN:
        return sa.true()
    visible = sa.select(Problem.source_id).where(scope.problem_clause(user))
    own = Source.unit_id.in_(scope.subtree_ids(user.unit)) if user.unit else sa.false()
    return sa.or_(own, Source.id.in_(visible))


@bp.get("/sources")
def list_sources():
    """Problem sources in scope, newest first."""
    stmt = sa.select(Source).where(_source_clause(actor())).order_by(Source.held_on.desc(), Source.id.desc())
    return paged(stmt, stmt, schemas.source_json)


@bp.post("/sources")
def create_source():
    """Record an inspection, meeting, audit… that problems come from (managers)."""
    data = schemas.json_body(schemas.SOURCE_CREATE)
    errs: dict = {}
    unit = reference(Unit, data["unit_id"], "unit_id", errs, _l("No such unit."))
    raise_errors(errs)
    aliases({"unit": "unit_id", "held_on": "date"})
    source = problems.save_source(actor(), request_clock(), name=data["name"], kind=data["kind"], unit=unit,
                                  held_on=data["date"])
    return created(schemas.source_json(source))


# --- problems -----------------------------------------------------------------------------------


def problem_or_404(problem_id: int) -> Problem:
    problem = get_or_404(Problem, problem_id, *PROBLEM_OPTIONS)
    if not scope.can_read_problem(actor(), problem):
        raise not_found()
    return problem


@bp.get("/problems")
def list_problems():
    """Problems in scope, filtered and paged."""
    args = schemas.query(schemas.PROBLEM_FILTERS)
    filters = queries.ProblemFilters.from_args(request.args)
    stmt = queries.problem_query(actor(), request_clock(), filters, args["sort"])
    count = queries.problem_query(actor(), request_clock(), filters, "number")
    return paged(stmt, count, schemas.problem_json, *PROBLEM_OPTIONS)


def _references(data: dict, current: dict | None = None) -> dict:
    """The services' keyword arguments from the body's ids and names; 422 names unknown references."""
    errs: dict = {}
    out = dict(current or {})
    if "category" in data:
        category = db.session.scalar(sa.select(Category).where(Category.name == data["category"].strip()))
        # An inactive category stays on the problems that have it, but is not chosen anew.
        if category is None or (not category.active and category is not out.get("category")):
            errs["category"] = [_l("No such category.")]
        out["category"] = category
    for field, model, key in (("source_id", Source, "source"), ("unit_id", Unit, "unit"),
                              ("lead_unit_id", Unit, "lead_unit"),
                              ("responsible_leader_id", User, "responsible_leader"),
                              ("responsible_person_id", User, "responsible_person")):
        if field in data:
            message = _l("No such person.") if model is User else _l("No such unit.")
            if model is Source:
                message = _l("No such source.")
            out[key] = reference(model, data[field], field, errs, message)
    if "cooperating_unit_ids" in data:
        ids = data["cooperating_unit_ids"]
        units = db.session.scalars(sa.select(Unit).where(Unit.id.in_(ids))).all() if ids else []
        if len(units) != len(ids):
            errs["cooperating_unit_ids"] = [_l("No such unit.")]
        out["cooperating_units"] = sorted(units, key=lambda u: ids.index(u.id))
    for key in ("number", "description", "found_on"):
        if key in data:
            out[key] = data[key]
    raise_errors(errs)
    return out


@bp.post("/problems")
def create_problem():
    """Record a problem with its responsibility fields (managers)."""
    data = schemas.json_body(schemas.PROBLEM_CREATE)
    values = _references(data)
    values.setdefault("lead_unit", values.get("unit"))
    aliases(PROBLEM_ALIASES)
    problem = problems.create_problem(actor(), request_clock(), **values)
    db.session.commit()
    return schemas.problem_json(problem_or_404(problem.id)), 201


@bp.get("/problems/<int:problem_id>")
def get_problem(problem_id: int):
    """One problem."""
    return schemas.problem_json(problem_or_404(problem_id))


def _current(problem: Problem) -> dict:
    return {
        "number": problem.number, "description": problem.description, "category": problem.category,
        "source": problem.source, "unit": problem.unit, "lead_unit": problem.lead_unit,
        "found_on": problem.found_on, "responsible_leader": problem.responsible_leader,
        "responsible_person": problem.responsible_person,
        "cooperating_units": list(problem.cooperating_units),
    }


@bp.patch("/problems/<int:problem_id>")
def update_problem(problem_id: int):
    """Change some fields of a problem; `version` must be the one read (else 409)."""
    problem = problem_or_404(problem_id)
    data = schemas.json_body(schemas.PROBLEM_UPDATE)
    values = _references(data, _current(problem))
    aliases(PROBLEM_ALIASES)
    problems.update_problem(problem, actor(), request_clock(), expected_version=data["version"], **values)
    db.session.commit()
    return schemas.problem_json(problem_or_404(problem_id))
