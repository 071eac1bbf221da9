"""Measures (DESIGN §4): list, create, read, edit, transitions, progress, extensions and their decisions."""

from __future__ import annotations

from flask import current_app, request

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
    task_or_404,
)
from tracker.clock import request_clock
from tracker.enums import TaskType
from tracker.extensions import db
from tracker.followup import periods, rechecks
from tracker.followup.models import Recheck, TaskPeriod
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.tasks import queries, rules, services
from tracker.tasks.models import Extension, Task

TASK_ALIASES = {"owner": "owner_id", "unit": "unit_id"}


def _serialiser():
    today, days = request_clock().today(), current_app.config["DUE_SOON_DAYS"]
    return lambda task: schemas.task_json(task, today, days)


def task_body(task: Task) -> dict:
    return _serialiser()(task)


@bp.get("/tasks")
def list_tasks():
    """Measures in scope, filtered and paged; `total` counts every match."""
    args = schemas.query(schemas.TASK_FILTERS)
    filters = queries.TaskFilters.from_args(request.args)
    sort = queries.parse_sort(args["sort"])
    # task_json reads only the task's columns, so nothing else is loaded with the page.
    stmt = queries.task_query(actor(), request_clock(), filters, sort, load=False)
    # The count needs no order; sorting by owner or unit joins a table it does not need either.
    count = stmt if sort[0] not in ("owner", "unit") else queries.task_query(
        actor(), request_clock(), filters, ("created", False), load=False)
    return paged(stmt, count, _serialiser(), rows=queries.api_rows)


@bp.post("/tasks")
def create_task():
    """Add a measure to a problem and assign it (managers of the problem's unit)."""
    data = schemas.json_body(schemas.TASK_CREATE)
    errs: dict = {}
    problem = db.session.get(Problem, data["problem_id"])
    if problem is None or not scope.can_read_problem(actor(), problem):
        errs["problem_id"] = [_l("No such problem.")]
    owner = reference(User, data["owner_id"], "owner_id", errs, _l("No such person."))
    unit = reference(Unit, data.get("unit_id"), "unit_id", errs, _l("No such unit."))
    raise_errors(errs)
    aliases(TASK_ALIASES)
    task = services.create_task(problem, actor(), request_clock(), measure=data["measure"], owner=owner,
                                unit=unit or owner.unit, deadline=data.get("deadline"),
                                type=TaskType(data.get("type") or TaskType.DEADLINE.value),
                                target=data.get("target"), period=data.get("period"))
    return created(task_body(task))


@bp.get("/tasks/<int:task_id>")
def get_task(task_id: int):
    """One measure."""
    return task_body(task_or_404(task_id))


def _edit(task: Task, data: dict) -> None:
    """Apply a PATCH through the services, each change by the service that owns its rule."""
    if any(k in data for k in ("measure", "target", "type", "period")):
        services.update_task(task, actor(), request_clock(), expected_version=task.version,
                             measure=data.get("measure", task.measure),
                             target=data.get("target", task.target),
                             type=TaskType(data.get("type", task.type)),
                             **({"period": data["period"]} if "period" in data else {}))
    owner_id, unit_id = data.get("owner_id", task.owner_id), data.get("unit_id", task.unit_id)
    if (owner_id, unit_id) != (task.owner_id, task.unit_id):
        errs: dict = {}
        owner = reference(User, owner_id, "owner_id", errs, _l("No such person."))
        unit = reference(Unit, unit_id, "unit_id", errs, _l("No such unit."))
        raise_errors(errs)
        services.reassign_task(task, actor(), request_clock(), owner=owner, unit=unit,
                               expected_version=task.version, comment=data.get("comment"))
    if "deadline" in data and data["deadline"] != task.deadline:
        services.change_deadline(task, actor(), request_clock(), deadline=data["deadline"],
                                 expected_version=task.version, comment=data.get("comment"))


@bp.patch("/tasks/<int:task_id>")
def update_task(task_id: int):
    """Edit measure/target/type, reassign (owner_id/unit_id) or move the deadline (with a comment)."""
    task = task_or_404(task_id)
    data = schemas.json_body(schemas.TASK_UPDATE)
    aliases(TASK_ALIASES)
    rules.require(task, actor(), "edit")
    services.check_version(task, data["version"])  # once, before any change: a stale copy changes nothing
    _edit(task, data)
    db.session.commit()
    return task_body(task)


@bp.post("/tasks/<int:task_id>/transitions")
def transition(task_id: int):
    """start, submit (with result), verify (with a rating), reject or cancel (with comment) a measure; pass
    or return (to_step) a step of its review chain."""
    task = task_or_404(task_id)
    data = schemas.json_body(schemas.TRANSITION)
    services.transition(task, actor(), request_clock(), data["action"], comment=data.get("comment"),
                        result=data.get("result"), expected_version=data.get("version"),
                        rating=data.get("rating"), to_step=data.get("to_step"))
    db.session.commit()
    return task_body(task)


@bp.post("/tasks/<int:task_id>/acknowledge")
def acknowledge(task_id: int):
    """签收: the owner signs for the measure."""
    task = task_or_404(task_id)
    data = schemas.json_body(schemas.ACKNOWLEDGE)
    services.acknowledge(task, actor(), request_clock(), expected_version=data.get("version"))
    db.session.commit()
    return task_body(task)


@bp.post("/tasks/<int:task_id>/progress")
def post_progress(task_id: int):
    """A progress note with optional evidence files (the first note starts an assigned measure)."""
    task = task_or_404(task_id)
    data, uploads = schemas.body_with_files(schemas.PROGRESS_CREATE)
    progress = services.post_progress(task, actor(), request_clock(), body=data["body"], uploads=uploads)
    return created(schemas.progress_json(progress))


@bp.post("/tasks/<int:task_id>/extensions")
def request_extension(task_id: int):
    """Ask for a later deadline (延期申请); a manager decides."""
    task = task_or_404(task_id)
    data = schemas.json_body(schemas.EXTENSION_CREATE)
    ext = services.request_extension(task, actor(), request_clock(), new_deadline=data["new_deadline"],
                                     reason=data["reason"])
    return created(schemas.extension_json(ext))


@bp.get("/tasks/<int:task_id>/periods")
def list_periods(task_id: int):
    """The periods of an ongoing measure so far (阶段性销号), oldest first, with their results."""
    task = task_or_404(task_id)
    rows = periods.periods(task, request_clock(), actor().language or "zh")
    files = queries.period_evidence(task)
    items = [schemas.period_row_json(r, files) for r in rows]
    return schemas.page_json(items, len(rows), 1, max(len(rows), 1))


@bp.post("/tasks/<int:task_id>/periods")
def submit_period(task_id: int):
    """One period's result with optional evidence (multipart); the current period unless `period_start`."""
    task = task_or_404(task_id)
    data, uploads = schemas.body_with_files(schemas.PERIOD_CREATE)
    sub = periods.submit_period(task, actor(), request_clock(), result=data["result"],
                                period_start=data.get("period_start"), uploads=uploads)
    return created(schemas.period_json(sub))


@bp.post("/periods/<int:period_id>/decision")
def decide_period(period_id: int):
    """Verify (approve) or return (with a comment) one period's result; the measure stays open."""
    sub = get_or_404(TaskPeriod, period_id)
    task_or_404(sub.task_id)
    data = schemas.json_body(schemas.DECISION)
    periods.decide_period(sub, actor(), request_clock(), approve=data["approve"], comment=data.get("comment"))
    db.session.commit()
    return schemas.period_json(sub)


@bp.get("/tasks/<int:task_id>/reviews")
def list_rechecks(task_id: int):
    """The re-checks (回头看) of a measure, oldest first."""
    task = task_or_404(task_id)
    rows = rechecks.of_task(task)
    return schemas.page_json([schemas.recheck_json(r) for r in rows], len(rows), 1, max(len(rows), 1))


@bp.post("/tasks/<int:task_id>/reviews")
def schedule_recheck(task_id: int):
    """Schedule a re-check of a closed measure (managers of its unit)."""
    task = task_or_404(task_id)
    data = schemas.json_body(schemas.RECHECK_CREATE)
    errs: dict = {}
    reviewer = reference(User, data["reviewer_id"], "reviewer_id", errs, _l("No such person."))
    raise_errors(errs)
    aliases({"reviewer": "reviewer_id"})
    recheck = rechecks.schedule(actor(), task, request_clock(), due_on=data["due_on"], reviewer=reviewer)
    return created(schemas.recheck_json(recheck))


@bp.post("/reviews/<int:recheck_id>/result")
def record_recheck(recheck_id: int):
    """The reviewer's finding; a rebound reopens the measure (evidence files: multipart/form-data)."""
    recheck = get_or_404(Recheck, recheck_id)
    task_or_404(recheck.task_id)
    data, uploads = schemas.body_with_files(schemas.RECHECK_RESULT)
    rechecks.record(recheck, actor(), request_clock(), rebounded=data["outcome"] == "rebounded",
                    note=data.get("note"), new_deadline=data.get("new_deadline"), uploads=uploads)
    db.session.commit()
    return schemas.recheck_json(recheck)


@bp.post("/extensions/<int:extension_id>/decision")
def decide_extension(extension_id: int):
    """Approve (the deadline moves) or reject (with a comment) an extension request."""
    ext = get_or_404(Extension, extension_id)
    if not scope.can_read_task(actor(), ext.task):
        raise not_found()
    data = schemas.json_body(schemas.DECISION)
    services.decide_extension(ext, actor(), request_clock(), approve=data["approve"],
                              comment=data.get("comment"))
    db.session.commit()
    return schemas.extension_json(ext)
