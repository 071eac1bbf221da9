"""Small helpers every blueprint shares: clock, scoped lookups, form errors, lists."""

from __future__ import annotations

from functools import wraps

import sqlalchemy as sa
from flask import abort, flash, g, request
from flask_login import current_user

from tracker import scope
from tracker.clock import Clock, current_clock
from tracker.enums import Role
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db


def clock() -> Clock:
    """The request's clock (fixed by NOW in config for demos and tests)."""
    if "clock" not in g:
        g.clock = current_clock()
    return g.clock


def get_task_or_404(task_id: int, *options):
    """A task the current user may read, or 404 (never 403: ids cannot be probed)."""
    from tracker.tasks.models import Task

    if not 0 < task_id <= MAX_ID:
        abort(404)
    task = db.session.get(Task, task_id, options=list(options))
    if task is None or not scope.can_read_task(current_user, task):
        abort(404)
    return task


def get_problem_or_404(problem_id: int, *options):
    from tracker.problems.models import Problem

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
    from flask import current_app

    per_page = per_page or int_arg("per_page", current_app.config["PER_PAGE"], maximum=200)
    # Past MAX_ID rows there is nothing to show, and a larger OFFSET overflows the database's integer.
    return {"page": int_arg("page", 1, maximum=MAX_ID // per_page), "per_page": per_page}


def paginate(stmt, per_page: int | None = None):
    """db.paginate with bounds taken from the query string."""
    return db.paginate(stmt, **page_args(per_page), max_per_page=200, error_out=False)


def scoped_units(actor):
    """Units the actor may choose in a form or filter, ordered as a tree."""
    from tracker.org.models import Unit

    return db.session.scalars(sa.select(Unit).where(scope.unit_clause(actor)).order_by(Unit.path)).all()


def _scoped_people(columns, actor, roles, active_only, within=None):
    """The one query behind both pickers: people in the actor's subtree (admins: all), by unit and name."""
    from tracker.org.models import Unit, User

    stmt = sa.select(*columns).outerjoin(Unit, User.unit_id == Unit.id).order_by(Unit.path, User.name)
    if actor.role != Role.ADMIN:
        stmt = stmt.where(scope.unit_clause(actor))
    if within is not None:
        stmt = stmt.where(Unit.path.startswith(within.path, autoescape=True))
    if roles:
        stmt = stmt.where(User.role.in_(roles))
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return stmt


def scoped_users(actor, roles: tuple[Role, ...] | None = None, active_only: bool = True):
    """People the actor may pick (their subtree; admins everyone), by name."""
    from tracker.org.models import User

    return db.session.scalars(_scoped_people([User], actor, roles, active_only)).all()


def scoped_user_rows(actor, roles: tuple[Role, ...] | None = None, active_only: bool = True,
                     within=None, limit: int | None = None):
    """(id, name) rows of the people `scoped_users` would return, for filter bars.

    Plain rows, not ORM objects: a filter over a thousand people must not build a thousand
    User instances on every list page. `within` narrows to a unit's subtree; `limit` caps it.
    """
    from tracker.org.models import User

    stmt = _scoped_people([User.id, User.name], actor, roles, active_only, within)
    if limit is not None:
        stmt = stmt.limit(limit)
    return db.session.execute(stmt).all()
