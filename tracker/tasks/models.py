"""Rectification list (整改清单): measures, their progress, evidence and extension requests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import (
    OPEN_STATES,
    OVERDUE_STATES,
    ExtensionState,
    Light,
    PeriodKind,
    TaskState,
    TaskType,
    enum_column,
)
from tracker.extensions import db
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.review.models import Rating, TaskReviewStep

# Open work that can fall overdue: the predicate of the partial index ix_tasks_overdue_deadline.
OVERDUE_WORK_SQL = "state IN ('assigned', 'in_progress') AND type <> 'ongoing'"
# Open measures: the predicate of ix_tasks_owner_open (a person's own, in deadline order).
OPEN_SQL = "state IN ('assigned', 'in_progress', 'submitted')"
PENDING_SQL = "state = 'pending'"
# Measures whose owner has not signed for them (签收) yet; written as each database renders the
# clause of Task.awaiting_ack_clause, so the planners match the partial index.
AWAITING_ACK_SQL = {"sqlite": "ack_required = 1 AND acknowledged_at IS NULL",
                    "postgresql": "ack_required = true AND acknowledged_at IS NULL"}


def _inline(values):
    """Constants rendered into the SQL text, not bound: planners only match a partial index's
    predicate against literal values (SQLite always, PostgreSQL once a statement is prepared)."""
    return sa.bindparam(None, [getattr(v, "value", v) for v in values], expanding=True, literal_execute=True)


class TaskRules:
    """The derived rules of one measure (overdue, traffic light, closed late) on its plain values,
    shared by the ORM `Task` and the rectification list's plain rows (tasks.queries.ListRow).
    Needs `deadline`, `state`, `type` and `closed_on` (and `ack_required`, `acknowledged_at` for 签收);
    the SQL twins are Task.overdue_clause, Task.due_soon_clause and Task.awaiting_ack_clause."""

    def is_overdue(self, today: date) -> bool:
        return (
            self.deadline is not None
            and self.deadline < today
            and self.state in OVERDUE_STATES
            and self.type != TaskType.ONGOING
        )

    @property
    def awaiting_ack(self) -> bool:
        """Waiting for its owner's 签收 (needs `ack_required` and `acknowledged_at` too)."""
        return bool(self.ack_required) and self.acknowledged_at is None and self.state in OVERDUE_STATES

    def days_overdue(self, today: date) -> int:
        return (today - self.deadline).days if self.is_overdue(today) else 0

    def light(self, today: date, due_soon_days: int) -> Light | None:
        """Traffic light (红黄绿灯) of an open task; None once closed or cancelled."""
        if self.state not in OPEN_STATES:
            return None
        if self.is_overdue(today):
            return Light.RED
        if (
            self.type != TaskType.ONGOING
            and self.deadline is not None
            and self.deadline <= today + timedelta(days=due_soon_days)
        ):
            return Light.YELLOW
        return Light.GREEN

    @property
    def closed_late(self) -> bool:
        return (
            self.state == TaskState.CLOSED
            and self.deadline is not None
            and self.closed_on is not None
            and self.closed_on > self.deadline
        )


class Task(TaskRules, db.Model):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(sa.ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    measure: Mapped[str] = mapped_column(sa.Text)
    target: Mapped[Optional[str]] = mapped_column(sa.Text)
    type: Mapped[TaskType] = mapped_column(enum_column(TaskType), default=TaskType.DEADLINE)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    # Ongoing (长期坚持) measures may have no deadline, only a review date.
    deadline: Mapped[Optional[date]] = mapped_column(sa.Date, index=True)
    original_deadline: Mapped[Optional[date]] = mapped_column(sa.Date)
    state: Mapped[TaskState] = mapped_column(enum_column(TaskState), default=TaskState.ASSIGNED, index=True)
    result: Mapped[Optional[str]] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    started_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    submitted_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    submitted_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True), index=True)
    # The local date of close-out, so "closed on time" compares dates in TIMEZONE.
    closed_on: Mapped[Optional[date]] = mapped_column(sa.Date)
    closed_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    # 签收: the current owner got the measure at `assigned_at` and signed for it at `acknowledged_at`.
    # A reassignment asks again; measures of an imported (historical) ledger are not asked.
    assigned_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    acknowledged_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    ack_required: Mapped[bool] = mapped_column(default=True, server_default=sa.false())
    # 多级审核: how many times it was submitted, the step of the chain deciding the current submission
    # (None unless submitted), and the final step's rating (整改成效评价) of the close-out.
    submissions: Mapped[int] = mapped_column(default=0, server_default="0")
    review_step: Mapped[Optional[int]] = mapped_column()
    rating: Mapped[Optional[Rating]] = mapped_column(enum_column(Rating))
    # 阶段性销号: an ongoing measure's period (None: no periodic close-outs, a monthly progress reminder).
    period: Mapped[Optional[PeriodKind]] = mapped_column(enum_column(PeriodKind))
    # 回头看: a rebound reopens a closed measure as round N+1 (earlier closures in task_rounds).
    round: Mapped[int] = mapped_column(default=1, server_default="1")
    # Real time of the last INSERT or UPDATE through SQLAlchemy (ORM or Core): the reminders' passes
    # within a day look only at measures changed since the day's sweep (tracker.reminders.sweeps).
    changed_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True), default=utcnow,
                                                           onupdate=utcnow, index=True)

    problem: Mapped[Problem] = relationship(back_populates="tasks")
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    unit: Mapped[Unit] = relationship()
    submitted_by: Mapped[Optional[User]] = relationship(foreign_keys=[submitted_by_id])
    closed_by: Mapped[Optional[User]] = relationship(foreign_keys=[closed_by_id])
    review_steps: Mapped[list[TaskReviewStep]] = relationship(order_by=TaskReviewStep.position,
                                                              cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint("type = 'ongoing' OR deadline IS NOT NULL", name="deadline_unless_ongoing"),
        sa.CheckConstraint("state <> 'closed' OR closed_at IS NOT NULL", name="closed_has_date"),
        sa.CheckConstraint("state <> 'submitted' OR result IS NOT NULL", name="submitted_has_result"),
        # unit and owner make the scoped counts by state and deadline index-only.
        sa.Index("ix_tasks_state_deadline", "state", "deadline", "unit_id", "owner_id"),
        sa.Index("ix_tasks_owner_state", "owner_id", "state"),
        sa.Index("ix_tasks_created", "created_at", "id"),  # 整改清单 newest / oldest first
        sa.Index("ix_tasks_state_deadline_id", "state", "deadline", "id"),  # 整改清单 by state, in runs
        sa.Index("ix_tasks_unit_state", "unit_id", "state"),
        # Only work that can fall overdue: the overdue list in deadline order straight off the index,
        # and its count from the index alone (the scope and predicate columns are in it: SQLite only
        # counts from an index that holds every column the query names).
        sa.Index("ix_tasks_overdue_deadline", "deadline", "id", "unit_id", "owner_id", "state", "type",
                 sqlite_where=sa.text(OVERDUE_WORK_SQL), postgresql_where=sa.text(OVERDUE_WORK_SQL)),
        # 我的任务: a person's open measures by urgency in runs of deadline order, and their counters,
        # from the index alone however many measures the table holds.
        sa.Index("ix_tasks_owner_open", "owner_id", "deadline", "id", "state", "type",
                 sqlite_where=sa.text(OPEN_SQL), postgresql_where=sa.text(OPEN_SQL)),
        # The 签收 reminders and the "not signed for" filter: only the few that wait.
        sa.Index("ix_tasks_awaiting_ack", "assigned_at", "unit_id", "owner_id",
                 sqlite_where=sa.text(AWAITING_ACK_SQL["sqlite"]),
                 postgresql_where=sa.text(AWAITING_ACK_SQL["postgresql"])),
    )

    # --- derived rules: one definition for Python objects and for SQL -------------------

    @classmethod
    def overdue_clause(cls, today: date):
        """SQL for "overdue on `today`": deadline passed, owner still working, not ongoing."""
        return sa.and_(
            cls.deadline < today,
            cls.state.in_(_inline(OVERDUE_STATES)),
            cls.type != sa.literal(TaskType.ONGOING.value, literal_execute=True),
        )

    @classmethod
    def open_clause(cls):
        """SQL for "open" with the states as literals: it matches ix_tasks_owner_open's predicate."""
        return cls.state.in_(_inline(OPEN_STATES))

    @classmethod
    def due_soon_clause(cls, today: date, due_soon_days: int):
        """SQL for the yellow light: open, not overdue, deadline within `due_soon_days`."""
        return sa.and_(
            cls.state.in_(OPEN_STATES),
            cls.type != TaskType.ONGOING,
            cls.deadline <= today + timedelta(days=due_soon_days),
            sa.not_(cls.overdue_clause(today)),
        )

    @classmethod
    def stalled_clause(cls, cutoff: datetime):
        """SQL for "stalled": still being worked on, assigned before `cutoff` (now − STALL_DAYS) and no
        progress note since then."""
        recent = sa.select(Progress.id).where(Progress.task_id == cls.id, Progress.created_at > cutoff)
        return sa.and_(cls.state.in_(_inline(OVERDUE_STATES)), cls.assigned_at <= cutoff,
                       ~recent.exists())

    @classmethod
    def awaiting_ack_clause(cls):
        """SQL for "waiting for its owner's 签收"."""
        return sa.and_(cls.ack_required == sa.true(), cls.acknowledged_at.is_(None),
                       cls.state.in_(_inline(OVERDUE_STATES)))

    def __str__(self) -> str:
        return f"#{self.id}"


class Progress(db.Model):
    """A dated progress note (整改进展)."""

    __tablename__ = "progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    author: Mapped[User] = relationship()
    evidence: Mapped[list[Evidence]] = relationship(back_populates="progress", order_by="Evidence.id")


class Evidence(db.Model):
    """An uploaded file (佐证材料); bytes live under instance/uploads, never in static."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    progress_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("progress.id", ondelete="SET NULL"), index=True
    )
    # Evidence of one period's result (阶段性销号).
    period_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("task_periods.id", ondelete="SET NULL"),
                                                     index=True)
    # Evidence of a re-check's finding (回头看).
    recheck_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("rechecks.id", ondelete="SET NULL"),
                                                      index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    progress: Mapped[Optional[Progress]] = relationship(back_populates="evidence")
    uploaded_by: Mapped[User] = relationship()

    __table_args__ = (sa.CheckConstraint("size >= 0", name="size"),)


class Extension(db.Model):
    """A request to move a task's deadline (延期申请) and its decision."""

    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    old_deadline: Mapped[date] = mapped_column(sa.Date)
    new_deadline: Mapped[date] = mapped_column(sa.Date)
    state: Mapped[ExtensionState] = mapped_column(
        enum_column(ExtensionState), default=ExtensionState.PENDING, index=True
    )
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    decision_comment: Mapped[Optional[str]] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    # Two managers deciding at once: the second UPDATE finds the version moved and changes nothing.
    version: Mapped[int] = mapped_column(default=1)

    task: Mapped[Task] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[Optional[User]] = relationship(foreign_keys=[decided_by_id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint("new_deadline > old_deadline", name="later_deadline"),
        # At most one request per measure waits for a decision, however many arrive at once.
        sa.Index("ux_extensions_one_pending", "task_id", unique=True,
                 sqlite_where=sa.text(PENDING_SQL), postgresql_where=sa.text(PENDING_SQL)),
    )
