"""Problem list (问题清单), responsibility list (责任清单), the problem page, recording and editing."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from tracker import refdata, scope
from tracker.audit.queries import names_in
from tracker.clock import request_clock
from tracker.enums import ProblemState, Role, SourceKind, TaskType
from tracker.errors import StaleVersion, ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.pickers import filters as filter_pickers
from tracker.pickers.lists import People, Sources, Units
from tracker.pickers.widgets import attach, attach_rows, searching
from tracker.problems import services as problems
from tracker.problems.forms import NONE, AddMeasureForm, ProblemCreateForm, ProblemForm
from tracker.problems.models import Category, Problem, Source
from tracker.problems.queries import (
    ProblemFilters,
    parse_sort,
    problem_history,
    problem_list_page,
    problem_query,
    task_counts,
    visible_tasks,
)
from tracker.tasks import services as tasks
from tracker.tasks.models import Task
from tracker.viewutils import form_errors, get_problem_or_404, page_args, paginate, roles_required

bp = Blueprint("problems", __name__)

FIELD_LABELS = {
    "number": _l("Number"), "description": _l("Problem description"), "category_id": _l("Category"),
    "source_id": _l("Source"), "unit_id": _l("Unit where found"), "found_on": _l("Date found"),
    "responsible_leader_id": _l("Responsible leader"), "lead_unit_id": _l("Lead unit"),
    "responsible_person_id": _l("Responsible person"), "cooperating_unit_ids": _l("Cooperating units"),
    "state": _l("Problem state"), "closed_on": _l("Closed on"),
}


# --- lists ----------------------------------------------------------------------------------------


def _filter_options(filters: ProblemFilters, with_leaders: bool = False) -> dict:
    """What the filter bar offers: pickers of the actor's units and sources (and for the responsibility
    list the leaders), every category (old ones too); states and kinds of source."""
    leaders = (filter_pickers.people("leader", filters.leader_id, (Role.MANAGER, Role.VIEWER))
               if with_leaders else None)
    return {"units": filter_pickers.units("unit", filters.unit_id),
            "sources": filter_pickers.sources("source", filters.source_id),
            "categories": refdata.categories(), "leaders": leaders,
            "states": [(s.value, s.label) for s in ProblemState],
            "kinds": [(k.value, k.label) for k in SourceKind]}


def _list_page(*options):
    filters = ProblemFilters.from_args(request.args)
    sort = request.args.get("sort")
    stmt = problem_query(current_user, request_clock(), filters, sort).options(*options)
    return filters, parse_sort(sort), paginate(stmt)


@bp.route("/problems")
@login_required
def problem_list():
    """问题清单: every problem in scope, filtered, sorted and paged, with its measures' progress."""
    filters = ProblemFilters.from_args(request.args)
    sort = request.args.get("sort")
    page = problem_list_page(current_user, request_clock(), filters, sort, **page_args())
    counts = task_counts([p.id for p in page.items], request_clock().today())
    return render_template("problems/list.html", page=page, counts=counts, filters=filters,
                           sort=parse_sort(sort), options=_filter_options(filters),
                           can_create=scope.can_create_problems(current_user))


@bp.route("/responsibilities")
@login_required
def responsibility_list():
    """责任清单: who answers for each problem, and the owners and deadlines of its measures."""
    filters, sort, page = _list_page(
        joinedload(Problem.lead_unit), joinedload(Problem.responsible_leader),
        joinedload(Problem.responsible_person), selectinload(Problem.cooperating_units),
        selectinload(Problem.tasks).selectinload(Task.owner),
    )
    return render_template("problems/responsibilities.html", page=page, filters=filters, sort=sort,
                           options=_filter_options(filters, with_leaders=True))


# --- the problem page -----------------------------------------------------------------------------


def _render_detail(problem: Problem, form: AddMeasureForm | None, status: int = 200):
    events = problem_history(problem)
    return render_template(
        "problems/detail.html", problem=problem, measures=visible_tasks(problem, current_user),
        form=form, can_edit=scope.can_edit_problem(current_user, problem), events=events,
        names=names_in(events), field_labels=FIELD_LABELS,
    ), status


def _editable_problem_or_404(problem_id: int) -> Problem:
    problem = get_problem_or_404(problem_id)
    if not scope.can_edit_problem(current_user, problem):
        abort(404)
    return problem


@bp.route("/problems/<int:problem_id>")
@login_required
def problem_detail(problem_id: int):
    """One problem: its fields, responsibility, measures and history."""
    problem = get_problem_or_404(
        problem_id, joinedload(Problem.category), joinedload(Problem.source), joinedload(Problem.unit),
        joinedload(Problem.lead_unit), joinedload(Problem.responsible_leader),
        joinedload(Problem.responsible_person), selectinload(Problem.cooperating_units),
    )
    form = None
    if scope.can_edit_problem(current_user, problem):
        form = AddMeasureForm(formdata=None)
        _measure_choices([form])
    return _render_detail(problem, form)


@bp.route("/problems/<int:problem_id>/measures", methods=["POST"])
@login_required
def add_measure(problem_id: int):
    """Add one measure (整改措施) to an existing problem."""
    problem = _editable_problem_or_404(problem_id)
    form = AddMeasureForm()
    _measure_choices([form])
    if searching(form):  # a picker's search without JavaScript: show its matches, save nothing
        return _render_detail(problem, form)
    if not form.validate_on_submit():
        return _render_detail(problem, form, 422)
    try:
        task = tasks.create_task(problem, current_user, request_clock(), **_measure_data(form))
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return _render_detail(problem, form, 422)
    db.session.commit()
    flash(_("Measure #%(id)s is added and assigned to %(name)s.", id=task.id, name=task.owner.name),
          "success")
    return redirect(url_for("problems.problem_detail", problem_id=problem.id))


# --- recording and editing ------------------------------------------------------------------------


OWNERS = People((Role.MANAGER, Role.STAFF), active=True)  # owners and responsible persons
LEADERS = People((Role.MANAGER, Role.VIEWER), active=True, above=True)  # scope.may_pick_leader
UNITS = Units()
SOURCES = Sources()  # those of the actor's units (scope.may_pick_source)


def _problem_choices(form: ProblemForm, actor: User, problem: Problem | None = None) -> None:
    """The form's categories, and its pickers of sources, units and people; a stored value stays
    selectable on edit even when it is no longer offered (inactive, out of scope)."""
    p = problem
    blank = [(NONE, _("— choose —"))]
    categories = db.session.scalars(
        sa.select(Category).where(Category.active.is_(True)).order_by(Category.sort_order, Category.name)
    ).all()
    known = {c.id for c in categories}
    extra = [p.category] if p and p.category and p.category.id not in known else []
    form.category.choices = blank + [(c.id, c.name) for c in categories + extra]
    attach(form.source, SOURCES, blank=blank, current=[SOURCES.item(p.source)] if p and p.source else [])
    units = UNITS.short_list(actor)
    for f, stored in ((form.unit, [p.unit] if p else []), (form.lead_unit, [p.lead_unit] if p else []),
                      (form.cooperating_units, p.cooperating_units if p else [])):
        attach(f, UNITS, blank=[] if f is form.cooperating_units else blank, short=lambda: units,
               current=[UNITS.item(u) for u in stored if u is not None])
    for f, pick, stored in ((form.responsible_leader, LEADERS, p and p.responsible_leader),
                            (form.responsible_person, OWNERS, p and p.responsible_person)):
        attach(f, pick, blank=[(NONE, "—")], current=[pick.item(stored)] if stored else [])


def _measure_choices(rows: list) -> None:
    """The pickers of owner and unit of measure rows (MeasureForm), each list read once for all rows."""
    blank = [(NONE, _("— choose —"))]
    for row in rows:
        row.type.choices = TaskType.choices()
    attach_rows([row.owner for row in rows], OWNERS, blank=blank)
    attach_rows([row.unit for row in rows], UNITS, blank=blank)


def _problem_data(form: ProblemForm) -> dict:
    """The form's values as the service wants them: objects, not ids. An id that names nothing is
    refused here with the words the service uses for one outside the user's scope."""
    errors: dict = {}
    coop_ids = list(dict.fromkeys(form.cooperating_units.data or []))
    coop = db.session.scalars(sa.select(Unit).where(Unit.id.in_(
        [i for i in coop_ids if 0 < i <= MAX_ID]))).all() if coop_ids else []
    if len(coop) != len(coop_ids):
        errors["cooperating_units"] = [scope.NO_SUCH["unit"]]
    data = dict(
        number=form.number.data, description=form.description.data, found_on=form.found_on.data,
        category=scope.lookup(Category, form.category.data, "category", errors, "category"),
        source=scope.lookup(Source, form.source.data, "source", errors, "source"),
        unit=scope.lookup(Unit, form.unit.data, "unit", errors, "unit"),
        lead_unit=scope.lookup(Unit, form.lead_unit.data, "lead_unit", errors, "unit"),
        cooperating_units=sorted(coop, key=lambda u: coop_ids.index(u.id)),
        responsible_leader=scope.lookup(User, form.responsible_leader.data, "responsible_leader", errors,
                                        "person"),
        responsible_person=scope.lookup(User, form.responsible_person.data, "responsible_person", errors,
                                        "person"),
    )
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    return data


def _measure_data(row) -> dict:
    errors: dict = {}
    data = dict(measure=row.measure.data, target=row.target.data, type=TaskType(row.type.data),
                owner=scope.lookup(User, row.owner.data, "owner", errors, "person"),
                unit=scope.lookup(Unit, row.unit.data, "unit", errors, "unit"), deadline=row.deadline.data,
                period=row.period.data or None)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    return data


def _render_form(form: ProblemForm, problem: Problem | None = None, status: int = 200):
    return render_template("problems/form.html", form=form, problem=problem), status


def _create_with_measures(form: ProblemCreateForm) -> Problem | None:
    """The problem and every filled measure row in one transaction; None (errors on the form) if any fails."""
    try:
        problem = problems.create_problem(current_user, request_clock(), **_problem_data(form))
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return None
    failed = False
    for row in form.filled_measures():
        try:
            tasks.create_task(problem, current_user, request_clock(), **_measure_data(row))
        except ValidationFailed as exc:
            # Keep going so every row's errors show at once; nothing is kept (rollback below).
            form_errors(row, exc)
            failed = True
    if failed:
        db.session.rollback()
        return None
    return problem


@bp.route("/problems/new", methods=["GET", "POST"])
@login_required
@roles_required(Role.ADMIN, Role.MANAGER)
def problem_create():
    """Record a problem with its responsibility fields and its measures (问题清单+责任清单+整改清单)."""
    form = ProblemCreateForm()
    adding_row = request.method == "POST" and "add_measure" in request.form
    if adding_row and len(form.measures) < form.measures.max_entries:
        form.measures.append_entry()
    _problem_choices(form, current_user)
    _measure_choices([entry.form for entry in form.measures])
    if request.method == "GET":
        form.found_on.data = request_clock().today()
        return _render_form(form)
    if adding_row or searching(form):
        # Another empty row, or a picker's search without JavaScript: no validation yet, the form
        # comes back as typed.
        return _render_form(form)
    if not form.validate_on_submit():
        return _render_form(form, status=422)
    problem = _create_with_measures(form)
    if problem is None:
        return _render_form(form, status=422)
    db.session.commit()
    flash(_("Problem %(number)s is recorded with %(n)s measure(s).", number=problem.number,
            n=len(form.filled_measures())), "success")
    return redirect(url_for("problems.problem_detail", problem_id=problem.id))


@bp.route("/problems/<int:problem_id>/edit", methods=["GET", "POST"])
@login_required
def problem_edit(problem_id: int):
    """Edit a problem and its responsibility fields; an edit made on an old copy is refused."""
    problem = _editable_problem_or_404(problem_id)
    form = ProblemForm()
    if request.method == "GET":
        form.fill_from(problem)
    _problem_choices(form, current_user, problem)
    if request.method == "GET" or searching(form):
        return _render_form(form, problem)
    if not form.validate_on_submit():
        return _render_form(form, problem, 422)
    try:
        problems.update_problem(problem, current_user, request_clock(),
                                expected_version=form.expected_version(),
                                **_problem_data(form))
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return _render_form(form, problem, 422)
    except StaleVersion as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render_form(form, problem, 409)
    db.session.commit()
    flash(_("Problem %(number)s is saved.", number=problem.number), "success")
    return redirect(url_for("problems.problem_detail", problem_id=problem.id))
