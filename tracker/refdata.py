"""Pick lists of reference data (units, people, sources, categories), cached per process.

The filter bars of 整改清单 and 问题清单 offer the same few hundred options on every request;
reading them cost four queries and a fifth of the page. They are kept in memory per scope and
keyed by one stamp in the database that every change to those tables renews, in the same
transaction as the change. A request reads the stamp (one row) and so sees a unit renamed or a
person added on any worker or host at once; nothing is ever served from an older stamp.

Entries are plain tuples, never ORM objects: they outlive the session that read them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import date
from functools import cached_property
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from markupsafe import escape
from sqlalchemy import event
from sqlalchemy.orm import Session

from tracker import scope
from tracker.enums import Role
from tracker.extensions import db
from tracker.org.models import ReferenceStamp, Unit, User, indented, new_stamp
from tracker.org.queries import scoped_user_rows
from tracker.problems.models import Category, Source
from tracker.tasks.queries import sources_in_scope

STAMP = "reference_stamp"  # the key of the stamp this session read, in Session.info
MAX_ENTRIES = 1024  # distinct scopes × lists; a city with 200 units needs a few hundred


def renew(connection: sa.Connection) -> None:
    """Give the data a new stamp (inside the caller's transaction)."""
    table = ReferenceStamp.__table__
    if not connection.execute(table.update().where(table.c.id == 1).values(stamp=new_stamp())).rowcount:
        connection.execute(table.insert().values(id=1, stamp=new_stamp()))


def _renew_in(session: Session) -> None:
    """A new stamp in the session's transaction; the stamp it had read is no longer this data's."""
    renew(session.connection())
    session.info.pop(STAMP, None)


# --- what counts as a change ---------------------------------------------------------------------

WATCHED = (Unit, User, Source, Category)
WATCHED_TABLES = frozenset(cls.__tablename__ for cls in WATCHED)
# A login or a changed password or e-mail address does not change any pick list.
USER_FIELDS = ("name", "unit_id", "role", "active")


def _changes_lists(obj) -> bool:
    if not isinstance(obj, User):
        return True
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in USER_FIELDS)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context) -> None:
    changed = [o for o in session.dirty if isinstance(o, WATCHED) and session.is_modified(o)]
    added_or_gone = any(isinstance(o, WATCHED) for o in (*session.new, *session.deleted))
    if added_or_gone or any(_changes_lists(o) for o in changed):
        _renew_in(session)


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state) -> None:
    # UPDATE/DELETE/INSERT statements run through the session (moving a subtree's paths).
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and table.name in WATCHED_TABLES:
        _renew_in(state.session)


# --- the cache -----------------------------------------------------------------------------------


def stamp_subquery() -> sa.ScalarSelect:
    return sa.select(ReferenceStamp.stamp).where(ReferenceStamp.id == 1).scalar_subquery()


def current_stamp() -> str | None:
    """This request's stamp (read once per request, with the user when logged in: see
    tracker.web.load_user); None when the database has no stamp row."""
    info = db.session.info  # the session lives as long as the app context: one read per request
    if STAMP not in info:
        info[STAMP] = db.session.scalar(sa.select(stamp_subquery()))
    return info[STAMP]


class _Store:
    def __init__(self) -> None:
        self.stamp: str | None = None
        self.entries: dict = {}
        self.lock = threading.Lock()


def _store() -> _Store:
    return current_app.extensions.setdefault("tracker_refdata", _Store())


def cached(key: tuple, load: Callable[[], list]) -> PickList:
    """`load()` once per key and stamp; a new stamp drops every entry."""
    stamp = current_stamp()
    if stamp is None:
        return PickList(load())
    store = _store()
    with store.lock:
        if store.stamp != stamp:
            store.stamp, store.entries = stamp, {}
        found = store.entries.get(key)
    if found is not None:
        return found
    value = PickList(load())
    with store.lock:
        if store.stamp == stamp:
            if len(store.entries) >= MAX_ENTRIES:
                store.entries.clear()
            store.entries[key] = value
    return value


def scope_key(actor: User) -> str | None:
    """What an actor's pick lists depend on: all (admins), their unit's subtree, or nothing."""
    if actor.role == Role.ADMIN:
        return "*"
    return actor.unit.path if actor.unit is not None else None


class PickList(tuple):
    """A cached pick list of rows with an id and a label (or a name): its <option>s are rendered
    once per stamp, and a page marks its choice in the copy (tracker.web.select_options). A
    thousand sources and units took 1.5 ms to render on every list page."""

    @cached_property
    def options_html(self) -> str:
        return "".join(f'<option value="{r.id}">{escape(getattr(r, "label", None) or r.name)}</option>'
                       for r in self)


# --- the lists -----------------------------------------------------------------------------------


class UnitRow(NamedTuple):
    id: int
    name: str
    path: str

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @property
    def label(self) -> str:
        """The name indented by its depth in the tree, as pickers show it."""
        return indented(self)


class PersonRow(NamedTuple):
    id: int
    name: str


class SourceRow(NamedTuple):
    id: int
    name: str
    held_on: date

    @property
    def label(self) -> str:
        return f"{self.held_on.isoformat()} {self.name}"


class CategoryRow(NamedTuple):
    id: int
    name: str
    active: bool


def units(actor: User, limit: int | None = None) -> PickList:
    """The units an actor may pick or filter by, as a tree (by path); `limit` caps the list."""
    def load():
        stmt = sa.select(Unit.id, Unit.name, Unit.path).where(scope.unit_clause(actor)).order_by(Unit.path)
        return [UnitRow(*r) for r in db.session.execute(stmt.limit(limit))]
    return cached(("units", scope_key(actor), limit), load)


def people(actor: User, roles: Iterable[Role], within: UnitRow | Unit | None = None,
           limit: int | None = None) -> PickList:
    """(id, name) of the people in the actor's subtree (admins: all) with these roles, by unit and
    name; `within` narrows to a unit's subtree, `limit` caps the list. Inactive people too: old
    measures are still theirs."""
    roles = tuple(roles)
    key = ("people", scope_key(actor), roles, within.path if within is not None else None, limit)
    return cached(key, lambda: [PersonRow(*r) for r in scoped_user_rows(
        actor, roles, active_only=False, within=within, limit=limit)])


def sources(actor: User, limit: int | None = None) -> PickList:
    """(id, name, held_on) of the sources the actor's filter bars offer (see sources_in_scope); `limit`
    caps the list."""
    return cached(("sources", scope_key(actor), limit),
                  lambda: [SourceRow(*r) for r in sources_in_scope(actor, limit)])


def categories() -> PickList:
    """Every category in its configured order (inactive ones too: old problems still use them)."""
    def load():
        stmt = (sa.select(Category.id, Category.name, Category.active)
                .order_by(Category.sort_order, Category.name))
        return [CategoryRow(*r) for r in db.session.execute(stmt)]
    return cached(("categories",), load)
