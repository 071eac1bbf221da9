"""The notices lists (all in scope, and "my notices"): filters, sort and pages shared by pages and API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from tracker import scope
from tracker.clock import Clock
from tracker.extensions import MAX_ID, db
from tracker.org.models import Unit, User
from tracker.supervision import rules
from tracker.supervision.models import (
    AWAITING_REPLY,
    Notice,
    NoticeColour,
    NoticeKind,
    NoticeRecipient,
    NoticeState,
    NoticeTask,
)

SORTS = {"issued": Notice.issued_at, "reply_due": Notice.reply_due_on, "number": Notice.number,
         "state": Notice.state, "colour": Notice.colour}
DEFAULT_SORT = ("issued", True)


def _enum(enum_cls, raw):
    try:
        return enum_cls(raw) if raw else None
    except ValueError:
        return None


def _date(raw):
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _id(raw):
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


@dataclass
class NoticeFilters:
    kind: NoticeKind | None = None
    colour: NoticeColour | None = None
    state: NoticeState | None = None
    unit_id: int | None = None  # the addressee unit (and the units below it)
    issued_from: date | None = None
    issued_to: date | None = None
    overdue: bool = False  # reply overdue
    awaiting: bool = False  # waiting for a reply (issued, signed for, or sent back)

    @classmethod
    def from_args(cls, args) -> NoticeFilters:
        return cls(kind=_enum(NoticeKind, args.get("kind")), colour=_enum(NoticeColour, args.get("colour")),
                   state=_enum(NoticeState, args.get("state")), unit_id=_id(args.get("unit")),
                   issued_from=_date(args.get("issued_from")), issued_to=_date(args.get("issued_to")),
                   overdue=args.get("overdue") in ("1", "true", "on", "y"),
                   awaiting=args.get("awaiting") in ("1", "true", "on", "y"))

    @property
    def active(self) -> bool:
        return any((self.kind, self.colour, self.state, self.unit_id, self.issued_from, self.issued_to,
                    self.overdue, self.awaiting))


def parse_sort(raw: str | None) -> tuple[str, bool]:
    raw = (raw or "").strip()
    key = raw.lstrip("-")
    return (key, raw.startswith("-")) if key in SORTS else DEFAULT_SORT


def statement(actor: User, clock: Clock, filters: NoticeFilters, sort=DEFAULT_SORT, *, mine: bool = False):
    """The notices the actor may read (or, `mine`, those sent to them), filtered and sorted."""
    stmt = sa.select(Notice).where(rules.clause(actor))
    if mine:
        stmt = stmt.where(sa.exists().where(NoticeRecipient.notice_id == Notice.id,
                                            NoticeRecipient.user_id == actor.id))
    if filters.kind:
        stmt = stmt.where(Notice.kind == filters.kind)
    if filters.colour:
        stmt = stmt.where(Notice.colour == filters.colour)
    if filters.state:
        stmt = stmt.where(Notice.state == filters.state)
    if filters.unit_id:
        unit = db.session.get(Unit, filters.unit_id)
        stmt = stmt.where(Notice.addressee_unit_id.in_(scope.subtree_ids(unit)) if unit else sa.false())
    if filters.issued_from:
        stmt = stmt.where(Notice.issued_on >= filters.issued_from)
    if filters.issued_to:
        stmt = stmt.where(Notice.issued_on <= filters.issued_to)
    if filters.overdue:
        stmt = stmt.where(Notice.reply_overdue_clause(clock.today()))
    if filters.awaiting:
        stmt = stmt.where(Notice.state.in_(AWAITING_REPLY))
    key, desc = sort
    column = SORTS[key]
    return stmt.order_by(column.desc() if desc else column.asc(), Notice.id.desc())


def page(actor: User, clock: Clock, filters: NoticeFilters, sort, *, page: int, per_page: int,
         mine: bool = False):
    stmt = statement(actor, clock, filters, sort, mine=mine).options(
        joinedload(Notice.issuing_unit), joinedload(Notice.addressee_unit), joinedload(Notice.issued_by))
    return db.paginate(stmt, page=page, per_page=per_page, max_per_page=200, error_out=False)


def measure_counts(notice_ids: list[int]) -> dict[int, int]:
    if not notice_ids:
        return {}
    return dict(db.session.execute(sa.select(NoticeTask.notice_id, sa.func.count()).where(
        NoticeTask.notice_id.in_(notice_ids)).group_by(NoticeTask.notice_id)).all())


def my_unsigned(actor: User) -> int:
    """Notices sent to the actor that they have not signed for (for the nav badge)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(NoticeRecipient).join(
        Notice, Notice.id == NoticeRecipient.notice_id).where(
        NoticeRecipient.user_id == actor.id, NoticeRecipient.acknowledged_at.is_(None),
        Notice.state != NoticeState.CLOSED)) or 0


def awaiting_reply_counts(actor: User, clock: Clock) -> dict[str, int]:
    """The notices the actor may read that wait for a reply, and how many of them are past the deadline
    (the leader's desk): one query."""
    row = db.session.execute(
        sa.select(sa.func.count(Notice.id),
                  sa.func.coalesce(sa.func.sum(sa.case((Notice.reply_overdue_clause(clock.today()), 1),
                                                       else_=0)), 0))
        .where(rules.clause(actor), Notice.state.in_(AWAITING_REPLY))).one()
    return {"awaiting": int(row[0] or 0), "overdue": int(row[1] or 0)}
