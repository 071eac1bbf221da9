"""What a picker offers: the people, units and sources an actor may pick (DESIGN §3: their subtree;
admins: all), searched by text, looked up by id, or as a whole list while it is short.

One statement per kind serves the JSON search, the label of the current choice and the short list, so
a picker never offers what the form behind it would refuse, nor names an id out of scope. Rows are
plain (id, text) pairs, never ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from tracker import scope, textsearch
from tracker.enums import Role, SourceKind
from tracker.extensions import MAX_ID, db
from tracker.org.models import INDENT, Unit, User
from tracker.org.queries import path_ids
from tracker.problems.models import Source

LIMIT = 20  # answers of one search: a picker shows a screenful; typing more narrows it
INLINE_MAX = 50  # a list this short is written into the page whole (and works without JavaScript)
LEADER_ROLES = (Role.MANAGER, Role.VIEWER)


class Item(NamedTuple):
    value: int
    text: str


def _flag(args: Mapping, name: str) -> bool:
    return str(args.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _like(column, pattern: str):
    return column.ilike(pattern, escape=textsearch.ESCAPE)


class Pickable:
    """A kind of pick list; subclasses give its scoped statement, its search columns and its text."""

    kind: ClassVar[str]

    def base(self, actor: User) -> sa.Select:
        """(id, …) rows the actor may pick, unordered; the id column comes first."""
        raise NotImplementedError

    def order(self) -> tuple:
        """The list's order (ending with a unique column, so pages and searches are stable)."""
        raise NotImplementedError

    def statement(self, actor: User) -> sa.Select:
        return self.base(actor).order_by(*self.order())

    def id_column(self):
        raise NotImplementedError

    def search_columns(self) -> tuple:
        raise NotImplementedError

    def text(self, row) -> str:
        raise NotImplementedError

    def args(self) -> dict:
        """The query arguments that name this list at its search URL."""
        return {}

    def items(self, stmt: sa.Select) -> list[Item]:
        return [Item(row[0], self.text(row)) for row in db.session.execute(stmt)]

    def search(self, actor: User, text: str | None, limit: int = LIMIT) -> list[Item]:
        """Up to `limit` rows whose name (or username, code) contains `text`, those starting with it
        first; every row when `text` is empty. What the user typed matches itself (% and _ too)."""
        text = textsearch.query_text(text)
        if not text:
            return self.items(self.statement(actor).limit(limit))
        columns = self.search_columns()
        starts = sa.case((_like(columns[0], textsearch.escape_like(text) + "%"), 0), else_=1)
        stmt = (self.base(actor).where(sa.or_(*(_like(c, textsearch.contains(text)) for c in columns)))
                .order_by(starts, *self.order()))
        return self.items(stmt.limit(limit))

    def chosen(self, actor: User, ids: Iterable) -> list[Item]:
        """The rows of these ids that the actor may pick (others, and junk, are left out), in list order."""
        wanted = sorted({i for i in (as_id(v) for v in ids) if i is not None})
        if not wanted:
            return []
        return self.items(self.statement(actor).where(self.id_column().in_(wanted)))

    def short_list(self, actor: User, limit: int | None = None) -> list[Item] | None:
        """The whole list while it has at most `limit` (INLINE_MAX) rows, else None (one query of
        limit + 1 rows)."""
        limit = INLINE_MAX if limit is None else limit
        found = self.items(self.statement(actor).limit(limit + 1))
        return found if len(found) <= limit else None


def as_id(value) -> int | None:
    """An id from a form or query value; None for junk and for what no row can have."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


@dataclass(frozen=True)
class People(Pickable):
    """People of the actor's subtree (admins: everybody), by unit and name; labelled "name（unit）"."""

    kind: ClassVar[str] = "people"
    roles: tuple[Role, ...] = ()  # any role when empty
    # Only active people (forms); a filter offers former staff too: old measures are theirs.
    active: bool = False
    # Also the managers and leaders of the units above the actor's (scope.may_pick_leader).
    above: bool = False
    within: str | None = None  # the path of a unit whose subtree narrows the list
    # The path of a unit: only the people of that unit and of the units above it (those who read its
    # measures: the reviewers of a re-check).
    line: str | None = None
    skip: int | None = None  # a person left out (a measure's owner does not re-check their own work)

    def args(self) -> dict:
        return {"role": [r.value for r in self.roles] or None, "active": 1 if self.active else None,
                "above": 1 if self.above else None,
                "line": path_ids(self.line)[-1] if self.line else None, "skip": self.skip}

    @classmethod
    def from_args(cls, args) -> People | None:
        """The list named by a search URL's arguments; None when they name none (an unknown role)."""
        roles = []
        for raw in args.getlist("role") if hasattr(args, "getlist") else [args.get("role")]:
            for value in str(raw or "").split(","):
                if value.strip():
                    if value.strip() not in {r.value for r in Role}:
                        return None
                    roles.append(Role(value.strip()))
        return cls(roles=tuple(dict.fromkeys(roles)), active=_flag(args, "active"),
                   above=_flag(args, "above"), skip=as_id(args.get("skip")))

    def order(self) -> tuple:
        return (Unit.path, User.name, User.id)

    def base(self, actor: User) -> sa.Select:
        stmt = sa.select(User.id, User.name, Unit.name).outerjoin(Unit, User.unit_id == Unit.id)
        if actor.role != Role.ADMIN:
            mine = scope.unit_clause(actor)
            if self.above and actor.unit is not None and scope.ancestor_ids(actor.unit):
                roles = [r for r in self.roles or LEADER_ROLES if r in LEADER_ROLES]
                mine = sa.or_(mine, sa.and_(User.unit_id.in_(scope.ancestor_ids(actor.unit)),
                                            User.role.in_(roles), User.active.is_(True)))
            stmt = stmt.where(mine)
        if self.within is not None:
            stmt = stmt.where(Unit.path.startswith(self.within, autoescape=True))
        if self.line is not None:
            stmt = stmt.where(User.unit_id.in_(path_ids(self.line)))
        if self.skip is not None:
            stmt = stmt.where(User.id != self.skip)
        if self.roles:
            stmt = stmt.where(User.role.in_(self.roles))
        if self.active:
            stmt = stmt.where(User.active.is_(True))
        return stmt

    def id_column(self):
        return User.id

    def search_columns(self) -> tuple:
        return (User.name, User.username)

    def text(self, row) -> str:
        return f"{row[1]}（{row[2]}）" if row[2] else row[1]

    def item(self, user: User) -> Item:
        """A stored person (of an object being edited) as this list labels people."""
        return Item(user.id, self.text((user.id, user.name, user.unit.name if user.unit else None)))


_Parent = aliased(Unit)


@dataclass(frozen=True)
class Units(Pickable):
    """Units of the actor's subtree (admins: all) as a tree (by path); labelled "name（parent）"."""

    kind: ClassVar[str] = "units"
    # The short list indents by depth in the whole tree, not below the highest unit offered.
    absolute: bool = False
    codes: bool = False  # labels end with the unit's code, "name (code)" (the admin pages)

    def args(self) -> dict:
        return {"code": 1 if self.codes else None}

    @classmethod
    def from_args(cls, args) -> Units:
        return cls(codes=_flag(args, "code"))

    def order(self) -> tuple:
        return (Unit.path, Unit.id)

    def base(self, actor: User) -> sa.Select:
        return (sa.select(Unit.id, Unit.name, _Parent.name, Unit.path, Unit.code)
                .outerjoin(_Parent, _Parent.id == Unit.parent_id).where(scope.unit_clause(actor)))

    def id_column(self):
        return Unit.id

    def search_columns(self) -> tuple:
        return (Unit.name, Unit.code)

    def text(self, row) -> str:
        return self._coded(f"{row[1]}（{row[2]}）" if row[2] else row[1], row)

    def _coded(self, text: str, row) -> str:
        return f"{text} ({row[4]})" if self.codes else text

    def item(self, unit: Unit) -> Item:
        """A stored unit (of an object being edited) as this list labels units."""
        return Item(unit.id, self.text((unit.id, unit.name, unit.parent.name if unit.parent else None,
                                        unit.path, unit.code)))

    def short_list(self, actor: User, limit: int | None = None) -> list[Item] | None:
        """The whole short list as a tree: names indented by depth below the highest unit offered."""
        limit = INLINE_MAX if limit is None else limit
        rows = db.session.execute(self.statement(actor).limit(limit + 1)).all()
        if len(rows) > limit:
            return None
        top = 2 if self.absolute else min((row[3].count("/") for row in rows), default=0)
        return [Item(row[0], self._coded(INDENT * (row[3].count("/") - top) + row[1], row)) for row in rows]


@dataclass(frozen=True)
class Sources(Pickable):
    """Sources recorded by the actor's units (admins: all), newest first; labelled "date kind·name"."""

    kind: ClassVar[str] = "sources"
    above: bool = False  # also those of the units above the actor's (what the filter bars offer)

    def args(self) -> dict:
        return {"above": 1 if self.above else None}

    @classmethod
    def from_args(cls, args) -> Sources:
        return cls(above=_flag(args, "above"))

    def order(self) -> tuple:
        return (Source.held_on.desc(), Source.id.desc())

    def base(self, actor: User) -> sa.Select:
        stmt = sa.select(Source.id, Source.name, Source.held_on, Source.kind)
        if actor.role == Role.ADMIN:
            return stmt
        if actor.unit is None:
            return stmt.where(sa.false())
        mine = Source.unit_id.in_(scope.subtree_ids(actor.unit))
        if self.above and scope.ancestor_ids(actor.unit):
            mine = sa.or_(mine, Source.unit_id.in_(scope.ancestor_ids(actor.unit)))
        return stmt.where(mine)

    def id_column(self):
        return Source.id

    def search_columns(self) -> tuple:
        return (Source.name,)

    def text(self, row) -> str:
        return f"{row[2].isoformat()} {SourceKind(row[3]).label}·{row[1]}"

    def item(self, source: Source) -> Item:
        """A stored source (of an object being edited) as this list labels sources."""
        return Item(source.id, self.text((source.id, source.name, source.held_on, source.kind)))
