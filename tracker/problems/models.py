"""Problem list (问题清单) and responsibility list (责任清单): sources, categories, problems."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import ProblemState, SourceKind, enum_column
from tracker.extensions import db
from tracker.org.models import Unit, User

if TYPE_CHECKING:
    from tracker.tasks.models import Task


class Category(db.Model):
    """A problem category (问题类别); admins maintain the list."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    # 问题清单 by category: categories walked in this order, each one's problems off their index.
    __table_args__ = (sa.Index("ix_categories_order", "sort_order", "name", "id"),)

    def __str__(self) -> str:
        return self.name


class Source(db.Model):
    """The event a batch of problems came from (问题来源)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[SourceKind] = mapped_column(enum_column(SourceKind), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    held_on: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    unit: Mapped[Unit] = relationship()

    # 问题清单 by source: sources walked in this order, each one's problems off their index.
    __table_args__ = (sa.Index("ix_sources_order", "held_on", "name", "id"),)

    def __str__(self) -> str:
        return self.name


problem_cooperating_units = sa.Table(
    "problem_cooperating_units",
    db.metadata,
    sa.Column("problem_id", sa.ForeignKey("problems.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("unit_id", sa.ForeignKey("units.id"), primary_key=True, index=True),
)


class Problem(db.Model):
    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    description: Mapped[str] = mapped_column(sa.Text)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    found_on: Mapped[date] = mapped_column(sa.Date, index=True)
    responsible_leader_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    lead_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    responsible_person_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Derived from the tasks by tasks.services.refresh_problem_state; stored so lists can filter on it.
    state: Mapped[ProblemState] = mapped_column(
        enum_column(ProblemState), default=ProblemState.OPEN, index=True
    )
    closed_on: Mapped[Optional[date]] = mapped_column(sa.Date)
    # 反弹: a re-check found one of its measures' rectification undone (the measure was reopened).
    rebounded_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    # As Task.changed_at: a new responsible leader is a new recipient of its measures' escalations.
    changed_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True), default=utcnow,
                                                           onupdate=utcnow, index=True)

    category: Mapped[Category] = relationship()
    source: Mapped[Source] = relationship()
    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    lead_unit: Mapped[Unit] = relationship(foreign_keys=[lead_unit_id])
    responsible_leader: Mapped[Optional[User]] = relationship(foreign_keys=[responsible_leader_id])
    responsible_person: Mapped[Optional[User]] = relationship(foreign_keys=[responsible_person_id])
    cooperating_units: Mapped[list[Unit]] = relationship(
        secondary=problem_cooperating_units, order_by="Unit.sort_order"
    )
    tasks: Mapped[list[Task]] = relationship(back_populates="problem", order_by="Task.id")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.number
