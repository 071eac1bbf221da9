"""Administration: users, the unit tree, categories (admins) and problem sources (managers too)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import contains_eager

from tracker import scope, textsearch
from tracker.admin.forms import CategoryForm, SourceForm, UnitForm, UserForm
from tracker.clock import request_clock
from tracker.enums import OPEN_STATES, Role, SourceKind
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import gettext as _
from tracker.org import services as org
from tracker.org.models import Unit, User
from tracker.pickers import filters as filter_pickers
from tracker.pickers.lists import Units
from tracker.pickers.widgets import attach, searching
from tracker.problems import services as problems
from tracker.problems.models import Category, Problem, Source
from tracker.tasks.models import Task
from tracker.viewutils import form_errors, int_arg, paginate, roles_required, sort_arg

bp = Blueprint("admin", __name__)

admin_only = roles_required(Role.ADMIN)
managers = roles_required(Role.ADMIN, Role.MANAGER)

USER_SORTS = {"username": User.username, "name": User.name, "role": User.role, "unit": Unit.path,
              "created": User.created_at, "active": User.active}
SOURCE_SORTS = {"date": Source.held_on, "name": Source.name, "kind": Source.kind, "unit": Unit.path}
# The forms' unit pickers: the tree by depth, each unit with its code (admins: every unit; managers, in the
# source form: their subtree).
UNITS = Units(absolute=True, codes=True)


# --- helpers -------------------------------------------------------------------------------------


def _show(form, context: dict):
    """The form page: 422 when it came back with errors (nothing written), 200 when first opened or
    shown again with the matches of a picker's search (without JavaScript; nothing written either)."""
    if form.is_submitted() and not searching(form):
        db.session.rollback()
        return render_template("admin/form.html", form=form, **context), 422
    return render_template("admin/form.html", form=form, **context)


def _refused(form, exc: ValidationFailed, context: dict):
    """A service refused the input: its errors go beside the fields (and _show rolls back)."""
    form_errors(form, exc)
    return _show(form, context)


def _unit(unit_id: int | None) -> Unit | None:
    return db.session.get(Unit, unit_id) if unit_id and 0 < unit_id <= MAX_ID else None


def _contains(column, text: str):
    """Case-insensitive substring match that treats % and _ literally."""
    return sa.func.lower(column).like(textsearch.contains(text.lower()), escape=textsearch.ESCAPE)


def _subtree_filter(column, unit_id: int | None):
    """Rows whose unit lies in the subtree of the unit chosen in a filter (None: no filter). A unit that
    does not exist finds nothing, as one out of the user's scope does (the lists keep to their scope)."""
    if unit_id is None:
        return None
    unit = _unit(unit_id)
    return column.in_(scope.subtree_ids(unit)) if unit is not None else sa.false()


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, host or protocol-relative tricks) is a valid ?next=."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _with_arg(target: str, **args) -> str:
    parts = urlsplit(target)
    query = "&".join(q for q in (parts.query, urlencode(args)) if q)
    return urlunsplit(("", "", parts.path, query, parts.fragment))


# --- users ---------------------------------------------------------------------------------------


@bp.route("/admin/users")
@login_required
@admin_only
def users():
    """Everybody, searchable and filterable by role, unit (subtree) and active."""
    stmt = sa.select(User).outerjoin(User.unit).options(contains_eager(User.unit))
    q = request.args.get("q", "").strip()
    if q:
        stmt = stmt.where(sa.or_(_contains(User.username, q), _contains(User.name, q),
                                 _contains(sa.func.coalesce(User.email, ""), q)))
    if request.args.get("role") in {r.value for r in Role}:
        stmt = stmt.where(User.role == Role(request.args["role"]))
    in_unit = _subtree_filter(User.unit_id, int_arg("unit"))
    if in_unit is not None:
        stmt = stmt.where(in_unit)
    if request.args.get("active") in ("1", "0"):
        stmt = stmt.where(User.active.is_(request.args["active"] == "1"))
    sort, order = sort_arg(USER_SORTS, "username")
    page = paginate(stmt.order_by(order, User.id))
    return render_template("admin/users.html", page=page, sort=sort, q=q,
                           units=filter_pickers.units("unit", int_arg("unit")))


def _user_data(user: User) -> dict:
    return {"username": user.username, "name": user.name, "email": user.email, "role": user.role.value,
            "unit": user.unit_id, "language": user.language, "active": user.active}


def _edit_user(user: User | None):
    """Shared create/edit: the form, the service call, one commit."""
    data = _user_data(user) if user is not None and request.method == "GET" else None
    form = UserForm(data=data, new=user is None)
    attach(form.unit, UNITS, blank=[("", _("— none (administrators only) —"))])
    context = {"title": _("Edit user %(name)s", name=user.username) if user else _("New user"),
               "cancel": url_for("admin.users"),
               "helps": {"password": _("Leave empty to keep the current password. A new one logs the user "
                                       "out everywhere.") if user
                         else _("At least %(n)s characters, not a common password, not made of the "
                                "person's name, username or unit.", n=org.MIN_PASSWORD),
                         "unit": _("Everyone but an administrator belongs to a unit.")}}
    if searching(form) or not form.validate_on_submit():
        return _show(form, context)
    try:
        saved = org.save_user(
            current_user, request_clock(), username=form.username.data, name=form.name.data,
            email=form.email.data,
            role=form.role.data, unit=_unit(form.unit.data), language=form.language.data,
            active=form.active.data, password=form.password.data or None, user=user,
            keep_login=g.get("login_session_id"),
        )
    except ValidationFailed as exc:
        return _refused(form, exc, context)
    db.session.commit()
    flash(_("User %(name)s is saved.", name=saved.username), "success")
    return redirect(url_for("admin.users"))


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
@admin_only
def user_new():
    """Create a user with a first password."""
    return _edit_user(None)


@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
@admin_only
def user_edit(user_id: int):
    """Edit a user; a password typed here resets theirs."""
    return _edit_user(db.get_or_404(User, user_id))


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@login_required
@admin_only
def user_active(user_id: int):
    """Deactivate or reactivate; the service refuses to lock out the acting admin."""
    user = db.get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    org.save_user(current_user, request_clock(), username=user.username, name=user.name, email=user.email,
                  role=user.role, unit=user.unit, language=user.language, active=active, user=user,
                  keep_login=g.get("login_session_id"))
    db.session.commit()
    flash(_("%(name)s is reactivated.", name=user.name) if active
          else _("%(name)s is deactivated.", name=user.name), "success")
    return redirect(safe_next(request.form.get("back")) or url_for("admin.users"))


# --- units ---------------------------------------------------------------------------------------


@bp.route("/admin/units")
@login_required
@admin_only
def units():
    """The unit tree with active users and open measures per unit (one grouped query each)."""
    tree = db.session.scalars(sa.select(Unit).order_by(Unit.path)).all()
    people = dict(db.session.execute(
        sa.select(User.unit_id, sa.func.count()).where(User.active.is_(True), User.unit_id.is_not(None))
        .group_by(User.unit_id)
    ).all())
    open_tasks = dict(db.session.execute(
        sa.select(Task.unit_id, sa.func.count()).where(Task.state.in_(OPEN_STATES)).group_by(Task.unit_id)
    ).all())
    return render_template("admin/units.html", tree=tree, people=people, open_tasks=open_tasks,
                           parents={u.parent_id for u in tree})


def _edit_unit(unit: Unit | None):
    """Shared create/edit/move of a unit."""
    data = None
    if request.method == "GET" and unit is not None:
        data = {"code": unit.code, "name": unit.name, "parent": unit.parent_id, "sort_order": unit.sort_order}
    elif request.method == "GET":
        data = {"parent": int_arg("parent"), "sort_order": 0}
    form = UnitForm(data=data)
    attach(form.parent, UNITS, blank=[("", _("— none (top level) —"))])
    context = {"title": _("Edit unit %(name)s", name=unit.name) if unit else _("New unit"),
               "cancel": url_for("admin.units"),
               "helps": {"parent": _("Moving a unit moves all of its sub-units, people and measures "
                                     "with it.")}}
    if searching(form) or not form.validate_on_submit():
        return _show(form, context)
    try:
        saved = org.save_unit(current_user, request_clock(), code=form.code.data, name=form.name.data,
                              parent=_unit(form.parent.data), sort_order=form.sort_order.data or 0, unit=unit)
    except ValidationFailed as exc:
        return _refused(form, exc, context)
    db.session.commit()
    flash(_("Unit %(name)s is saved.", name=saved.name), "success")
    return redirect(url_for("admin.units"))


@bp.route("/admin/units/new", methods=["GET", "POST"])
@login_required
@admin_only
def unit_new():
    """Add a unit, under ?parent=<id> when given."""
    return _edit_unit(None)


@bp.route("/admin/units/<int:unit_id>/edit", methods=["GET", "POST"])
@login_required
@admin_only
def unit_edit(unit_id: int):
    """Rename or move a unit (with its whole subtree)."""
    return _edit_unit(db.get_or_404(Unit, unit_id))


@bp.route("/admin/units/<int:unit_id>/delete", methods=["POST"])
@login_required
@admin_only
def unit_delete(unit_id: int):
    """Delete a unit nothing refers to (the service refuses otherwise)."""
    unit = db.get_or_404(Unit, unit_id)
    name = unit.name
    org.delete_unit(current_user, request_clock(), unit)
    db.session.commit()
    flash(_("Unit %(name)s is deleted.", name=name), "success")
    return redirect(url_for("admin.units"))


# --- categories ----------------------------------------------------------------------------------


@bp.route("/admin/categories")
@login_required
@admin_only
def categories():
    """The category list with the number of problems in each."""
    rows = db.session.scalars(sa.select(Category).order_by(Category.sort_order, Category.name)).all()
    used = dict(db.session.execute(
        sa.select(Problem.category_id, sa.func.count()).group_by(Problem.category_id)
    ).all())
    return render_template("admin/categories.html", rows=rows, used=used)


def _edit_category(category: Category | None):
    data = None
    if request.method == "GET" and category is not None:
        data = {"name": category.name, "sort_order": category.sort_order, "active": category.active}
    form = CategoryForm(data=data)
    context = {"title": _("Edit category %(name)s", name=category.name) if category else _("New category"),
               "cancel": url_for("admin.categories")}
    if not form.validate_on_submit():
        return _show(form, context)
    try:
        saved = problems.save_category(current_user, request_clock(), name=form.name.data,
                                       sort_order=form.sort_order.data or 0, active=form.active.data,
                                       category=category)
    except ValidationFailed as exc:
        return _refused(form, exc, context)
    db.session.commit()
    flash(_("Category %(name)s is saved.", name=saved.name), "success")
    return redirect(url_for("admin.categories"))


@bp.route("/admin/categories/new", methods=["GET", "POST"])
@login_required
@admin_only
def category_new():
    """Add a category."""
    return _edit_category(None)


@bp.route("/admin/categories/<int:category_id>/edit", methods=["GET", "POST"])
@login_required
@admin_only
def category_edit(category_id: int):
    """Rename, reorder or (de)activate a category."""
    return _edit_category(db.get_or_404(Category, category_id))


@bp.route("/admin/categories/<int:category_id>/active", methods=["POST"])
@login_required
@admin_only
def category_active(category_id: int):
    """Deactivate (hide from new problems) or reactivate a category."""
    category = db.get_or_404(Category, category_id)
    problems.save_category(current_user, request_clock(), name=category.name, sort_order=category.sort_order,
                           active=request.form.get("active") == "1", category=category)
    db.session.commit()
    flash(_("Category %(name)s is saved.", name=category.name), "success")
    return redirect(url_for("admin.categories"))


@bp.route("/admin/categories/<int:category_id>/delete", methods=["POST"])
@login_required
@admin_only
def category_delete(category_id: int):
    """Delete an unused category; a used one is refused (deactivate it instead)."""
    category = db.get_or_404(Category, category_id)
    name = category.name
    problems.delete_category(current_user, request_clock(), category)
    db.session.commit()
    flash(_("Category %(name)s is deleted.", name=name), "success")
    return redirect(url_for("admin.categories"))


# --- sources -------------------------------------------------------------------------------------


def _source_or_404(source_id: int) -> Source:
    """A source of a unit the manager covers (admins: any), or 404."""
    source = db.session.get(Source, source_id)
    if source is None or not scope.manages(current_user, source.unit):
        abort(404)
    return source


@bp.route("/sources")
@login_required
@managers
def sources():
    """Problem sources in the user's subtree with how many (visible) problems came from each."""
    in_scope = sa.select(Unit.id).where(scope.unit_clause(current_user))
    stmt = (sa.select(Source).join(Source.unit).options(contains_eager(Source.unit))
            .where(Source.unit_id.in_(in_scope)))
    q = request.args.get("q", "").strip()
    if q:
        stmt = stmt.where(_contains(Source.name, q))
    if request.args.get("kind") in {k.value for k in SourceKind}:
        stmt = stmt.where(Source.kind == SourceKind(request.args["kind"]))
    in_unit = _subtree_filter(Source.unit_id, int_arg("unit"))
    if in_unit is not None:
        stmt = stmt.where(in_unit)
    sort, order = sort_arg(SOURCE_SORTS, "-date")
    page = paginate(stmt.order_by(order, Source.id.desc()))
    ids = [s.id for s in page.items]
    counts = dict(db.session.execute(
        sa.select(Problem.source_id, sa.func.count()).where(Problem.source_id.in_(ids),
                                                            scope.problem_clause(current_user))
        .group_by(Problem.source_id)
    ).all()) if ids else {}
    return render_template("admin/sources.html", page=page, sort=sort, counts=counts, q=q,
                           units=filter_pickers.units("unit", int_arg("unit")))


def _edit_source(source: Source | None):
    """Shared create/edit of a source; after creating, goes back to a local ?next= with source_id."""
    back = safe_next(request.args.get("next"))
    data = None
    if request.method == "GET" and source is not None:
        data = {"name": source.name, "kind": source.kind.value, "unit": source.unit_id,
                "held_on": source.held_on}
    elif request.method == "GET":
        data = {"unit": current_user.unit_id}
    form = SourceForm(data=data)
    attach(form.unit, UNITS, blank=[("", _("Choose…"))])
    context = {"title": _("Edit source %(name)s", name=source.name) if source else _("New source"),
               "cancel": back or url_for("admin.sources")}
    if searching(form) or not form.validate_on_submit():
        return _show(form, context)
    try:
        unit = _unit(form.unit.data)
        if form.unit.data is not None and unit is None:  # answered like a unit out of scope
            raise ValidationFailed(scope.NO_SUCH["unit"], {"unit": [scope.NO_SUCH["unit"]]})
        saved = problems.save_source(current_user, request_clock(), name=form.name.data, kind=form.kind.data,
                                     unit=unit, held_on=form.held_on.data, source=source)
    except ValidationFailed as exc:
        return _refused(form, exc, context)
    db.session.commit()
    flash(_("Source %(name)s is saved.", name=saved.name), "success")
    return redirect(_with_arg(back, source_id=saved.id) if back else url_for("admin.sources"))


@bp.route("/sources/new", methods=["GET", "POST"])
@login_required
@managers
def source_new():
    """Record a source (inspection, meeting, audit…); ?next= brings the user back to their form."""
    return _edit_source(None)


@bp.route("/sources/<int:source_id>/edit", methods=["GET", "POST"])
@login_required
@managers
def source_edit(source_id: int):
    """Edit a source of the user's subtree."""
    return _edit_source(_source_or_404(source_id))


@bp.route("/sources/<int:source_id>/delete", methods=["POST"])
@login_required
@managers
def source_delete(source_id: int):
    """Delete a source no problem came from (the service refuses otherwise)."""
    source = _source_or_404(source_id)
    name = source.name
    problems.delete_source(current_user, request_clock(), source)
    db.session.commit()
    flash(_("Source %(name)s is deleted.", name=name), "success")
    return redirect(url_for("admin.sources"))
