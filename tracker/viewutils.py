"""Small helpers every blueprint shares: scoped lookups, form errors, lists."""

from __future__ import annotations

from functools import wraps

from flask import abort, current_app, flash, request
from flask_login import current_user

from tracker import scope
from tracker.enums import Role
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.problems.models import Problem
from tracker.tasks.models import Task


def get_task_or_404(task_id: int, *options):
    """A task the current user may read, or 404 (never 403: ids cannot be probed)."""
    if not 0 < task_id <= MAX_ID:
        abort(404)
    task = db.session.get(Task, task_id, options=list(options))
    if task is None or not scope.can_read_task(current_user, task):
        abort(404)
    return task


def get_problem_or_404(problem_id: int, *options):
    """A problem the current user may read, or 404."""
    if not 0 < problem_id <= MAX_ID:
        abort(404)
    problem = db.session.get(Problem, problem_id, options=list(options))
    if problem is None or not scope.can_read_problem(current_user, problem):
        abort(404)
    return problem


def roles_required(*roles: Role):
    """Restrict a view to some roles; others get 404 like any out-of-scope object."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated or current_user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def form_errors(form, exc: ValidationFailed, aliases: dict | None = None) -> None:
    """Show a service's field errors beside the form's fields; the rest as a flash message."""
    aliases = aliases or {}
    shown = False
    for name, messages in exc.fields.items():
        field = getattr(form, aliases.get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            if not isinstance(field.errors, list):
                field.errors = list(field.errors)
            field.errors.extend(str(m) for m in messages)
            shown = True
        else:
            for m in messages:
                flash(m, "danger")
                shown = True
    if not shown:
        flash(exc.message, "danger")


def int_arg(name: str, default: int | None = None, minimum: int = 1, maximum: int | None = None):
    """A positive integer query argument; junk falls back to the default instead of a 500."""
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return default
    if value < minimum:
        return default
    return min(value, maximum) if maximum else value


def sort_arg(allowed: dict, default: str):
    """Map ?sort=col / ?sort=-col to a column expression from `allowed`."""
    raw = request.args.get("sort", default)
    desc = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in allowed:
        key, desc = default.lstrip("-"), default.startswith("-")
    column = allowed[key]
    return (key, desc), (column.desc() if desc else column.asc())


def page_args(per_page: int | None = None) -> dict:
    """page and per_page from the query string, bounded (per_page ≤ 200)."""
    per_page = per_page or int_arg("per_page", current_app.config["PER_PAGE"], maximum=200)
    # Past MAX_ID rows there is nothing to show, and a larger OFFSET overflows the database's integer.
    return {"page": int_arg("page", 1, maximum=MAX_ID // per_page), "per_page": per_page}


def paginate(stmt, per_page: int | None = None):
    """db.paginate with bounds taken from the query string."""
    return db.paginate(stmt, **page_args(per_page), max_per_page=200, error_out=False)
