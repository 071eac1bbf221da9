"""Follow-up of long-term and closed measures (DESIGN §3 "Supervision and follow-up").

- 阶段性销号: an ongoing measure has a period (month, quarter, half-year, year, on the calendar); each
  period the owner submits that period's result and evidence, a manager verifies or rejects it, and
  the measure stays open. A period that ended with nothing submitted or verified is missed.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from flask_babel import get_locale
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import LabelledEnum, PeriodKind, enum_column
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User

if TYPE_CHECKING:  # tracker.tasks.models imports this module
    from tracker.tasks.models import Task


def period_of(kind: PeriodKind, day: date) -> tuple[date, date]:
    """The calendar period of `kind` that holds `day`: (first day, last day)."""
    first_month = (day.month - 1) // kind.months * kind.months + 1
    start = date(day.year, first_month, 1)
    last_month = first_month + kind.months - 1
    return start, date(day.year, last_month, monthrange(day.year, last_month)[1])


def next_period(kind: PeriodKind, start: date) -> tuple[date, date]:
    month = start.month + kind.months
    return period_of(kind, date(start.year + (month - 1) // 12, (month - 1) % 12 + 1, 1))


def previous_period(kind: PeriodKind, day: date) -> tuple[date, date]:
    """The last period that ended before the one holding `day`."""
    start, _ = period_of(kind, day)
    month = start.month - kind.months
    year = start.year + (month - 1) // 12
    return period_of(kind, date(year, (month - 1) % 12 + 1, 1))


def periods_between(kind: PeriodKind, first: date, last: date) -> list[tuple[date, date]]:
    """Every period from the one holding `first` to the one holding `last`, in order."""
    out = []
    start, end = period_of(kind, first)
    while start <= last:
        out.append((start, end))
        start, end = next_period(kind, start)
    return out


def period_label(kind: PeriodKind, start: date, lang: str = "zh") -> str:
    """2026年3月, 2026年第一季度, 2026年上半年, 2026年度 (or 2026-03, 2026 Q1, 2026 H1, 2026)."""
    zh = lang.startswith("zh")
    if kind == PeriodKind.MONTH:
        return f"{start.year}年{start.month}月" if zh else f"{start:%Y-%m}"
    if kind == PeriodKind.QUARTER:
        q = (start.month - 1) // 3 + 1
        return f"{start.year}年第{'一二三四'[q - 1]}季度" if zh else f"{start.year} Q{q}"
    if kind == PeriodKind.HALF:
        return f"{start.year}年{'上' if start.month == 1 else '下'}半年" if zh else \
            f"{start.year} H{1 if start.month == 1 else 2}"
    return f"{start.year}年度" if zh else str(start.year)


class PeriodState(LabelledEnum):
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"

    @classmethod
    def _labels(cls):
        return {cls.SUBMITTED: _l("Awaiting verification"), cls.VERIFIED: _l("Period closed out"),
                cls.REJECTED: _l("Returned")}


# A period has at most one live (submitted or verified) result; a returned one may be sent again.
LIVE_PERIOD_SQL = "state <> 'rejected'"


class TaskPeriod(db.Model):
    """One period's result of an ongoing measure (阶段性销号) and its verification."""

    __tablename__ = "task_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    kind: Mapped[PeriodKind] = mapped_column(enum_column(PeriodKind))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    result: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[PeriodState] = mapped_column(enum_column(PeriodState), default=PeriodState.SUBMITTED)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    decided_on: Mapped[Optional[date]] = mapped_column(sa.Date)  # local date, for the report
    decision_comment: Mapped[Optional[str]] = mapped_column(sa.Text)
    # Two managers deciding at once: the second UPDATE finds the version moved and changes nothing.
    version: Mapped[int] = mapped_column(default=1)

    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id])
    decided_by: Mapped[Optional[User]] = relationship(foreign_keys=[decided_by_id])
    task: Mapped[Task] = relationship()

    @property
    def label(self) -> str:
        """In the language of the request (Chinese outside one)."""
        return period_label(self.kind, self.period_start, str(get_locale() or "zh"))

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
        sa.Index("ix_task_periods_task_id_period_start", "task_id", "period_start"),
        sa.Index("ux_task_periods_one_live", "task_id", "period_start", unique=True,
                 sqlite_where=sa.text(LIVE_PERIOD_SQL), postgresql_where=sa.text(LIVE_PERIOD_SQL)),
        sa.Index("ix_task_periods_state_decided_on", "state", "decided_on"),
    )


# --- 回头看: re-checks of closed measures, and earlier rounds of a measure reopened by a rebound ---------


class RecheckState(LabelledEnum):
    SCHEDULED = "scheduled"
    CONSOLIDATED = "consolidated"  # 巩固
    REBOUNDED = "rebounded"  # 反弹: the measure was reopened as a new round
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {cls.SCHEDULED: _l("Scheduled"), cls.CONSOLIDATED: _l("Consolidated"),
                cls.REBOUNDED: _l("Rebounded"), cls.CANCELLED: _l("Cancelled")}


SCHEDULED_SQL = "state = 'scheduled'"


class RecheckSample(db.Model):
    """A recorded random draw of closures to re-check: the population in id order, the seed and what it
    picked, so the draw can be shown and repeated later (random.Random(seed).sample(population, k))."""

    __tablename__ = "recheck_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    date_from: Mapped[date] = mapped_column(sa.Date)
    date_to: Mapped[date] = mapped_column(sa.Date)
    share: Mapped[Optional[int]] = mapped_column()  # percent, when drawn by share
    size: Mapped[int] = mapped_column()  # how many were drawn
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    population: Mapped[list] = mapped_column(sa.JSON)  # closed measure ids, ascending
    picked: Mapped[list] = mapped_column(sa.JSON)  # in draw order
    drawn_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    drawn_by: Mapped[User] = relationship()


class Recheck(db.Model):
    """A re-check (回头看 / 复查) of one closed measure: who, by when, and what they found."""

    __tablename__ = "rechecks"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column()  # the round of the measure whose closure it checks
    due_on: Mapped[date] = mapped_column(sa.Date)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    scheduled_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    scheduled_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    sample_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("recheck_samples.id", ondelete="SET NULL"),
                                                     index=True)
    state: Mapped[RecheckState] = mapped_column(enum_column(RecheckState), default=RecheckState.SCHEDULED)
    note: Mapped[Optional[str]] = mapped_column(sa.Text)
    decided_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    decided_on: Mapped[Optional[date]] = mapped_column(sa.Date)
    version: Mapped[int] = mapped_column(default=1)

    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    scheduled_by: Mapped[User] = relationship(foreign_keys=[scheduled_by_id])
    task: Mapped[Task] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # One re-check waits per closure of a measure, however many managers schedule at once.
        sa.Index("ux_rechecks_one_scheduled", "task_id", "round", unique=True,
                 sqlite_where=sa.text(SCHEDULED_SQL), postgresql_where=sa.text(SCHEDULED_SQL)),
        sa.Index("ix_rechecks_state_due_on", "state", "due_on"),
    )


class TaskRound(db.Model):
    """An earlier round of a measure: the closure a re-check found rebounded, kept on record."""

    __tablename__ = "task_rounds"

    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    round: Mapped[int] = mapped_column(primary_key=True)
    deadline: Mapped[Optional[date]] = mapped_column(sa.Date)
    result: Mapped[Optional[str]] = mapped_column(sa.Text)
    rating: Mapped[Optional[str]] = mapped_column(sa.String(24))
    closed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    closed_on: Mapped[date] = mapped_column(sa.Date, index=True)
    closed_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    reopened_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    recheck_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("rechecks.id", ondelete="SET NULL"))

    closed_by: Mapped[Optional[User]] = relationship()
