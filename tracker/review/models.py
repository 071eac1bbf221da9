"""多级审核: a unit's chain of verification steps, the copy of it a submission goes through, and every
decision taken on the way with a snapshot of what the reviewer saw; 整改成效评价 (the final rating).

The chain is copied onto the measure when it is submitted (task_review_steps), so editing a unit's
chain never strands a submission half way: the next submission takes the new chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import LabelledEnum, enum_column
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User


class StepKind(LabelledEnum):
    MANAGERS = "managers"  # a manager of the measure's unit or above (today's single step)
    UNIT = "unit"  # a manager of one named unit (科室负责人, 督办部门 …)
    PERSON = "person"  # one named person (分管领导)

    @classmethod
    def _labels(cls):
        return {
            cls.MANAGERS: _l("A manager of the measure's unit"),
            cls.UNIT: _l("A manager of a unit"),
            cls.PERSON: _l("A named person"),
        }


class Rating(LabelledEnum):
    """整改成效评价, given at the final step; 不满意 returns the measure instead of closing it."""

    SATISFIED = "satisfied"
    BASIC = "basic"
    UNSATISFIED = "unsatisfied"

    @classmethod
    def _labels(cls):
        return {
            cls.SATISFIED: _l("Satisfied"),
            cls.BASIC: _l("Basically satisfied"),
            cls.UNSATISFIED: _l("Unsatisfied"),
        }


class Decision(LabelledEnum):
    PASS = "pass"  # this step agrees; the next step decides
    VERIFY = "verify"  # the final step agrees: closed out (销号)
    REJECT = "reject"  # back to the owner
    RETURN = "return"  # back to an earlier step

    @classmethod
    def _labels(cls):
        return {
            cls.PASS: _l("Passed to the next step"),
            cls.VERIFY: _l("Verified and closed out"),
            cls.REJECT: _l("Returned to the responsible person"),
            cls.RETURN: _l("Returned to an earlier step"),
        }


class StepFields:
    """What a step is, shared by a unit's chain and a submission's copy of it."""

    position: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[StepKind] = mapped_column(enum_column(StepKind))
    label: Mapped[str] = mapped_column(sa.String(60))

    @property
    def reviewer_text(self) -> str:
        if self.kind == StepKind.UNIT and self.reviewer_unit is not None:
            return str(_l("Managers of %(unit)s", unit=self.reviewer_unit.name))
        if self.kind == StepKind.PERSON and self.reviewer is not None:
            return self.reviewer.name
        return str(StepKind.MANAGERS.label)


class ReviewStep(StepFields, db.Model):
    """One step of a unit's chain; a unit without steps uses its nearest ancestor's chain, and the
    root without any uses the default single step (StepKind.MANAGERS)."""

    __tablename__ = "review_steps"

    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    reviewer_unit_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("units.id", ondelete="CASCADE"))
    reviewer_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))

    reviewer_unit: Mapped[Optional[Unit]] = relationship(foreign_keys=[reviewer_unit_id])
    reviewer: Mapped[Optional[User]] = relationship(foreign_keys=[reviewer_id])

    __table_args__ = (
        sa.CheckConstraint("position BETWEEN 1 AND 9", name="position"),
        sa.CheckConstraint("(kind = 'unit') = (reviewer_unit_id IS NOT NULL)", name="unit_step_has_unit"),
        sa.CheckConstraint("(kind = 'person') = (reviewer_id IS NOT NULL)", name="person_step_has_person"),
    )


class TaskReviewStep(StepFields, db.Model):
    """A step of the chain a measure's current submission goes through (copied at submission)."""

    __tablename__ = "task_review_steps"

    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    reviewer_unit_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("units.id", ondelete="SET NULL"),
                                                            index=True)
    reviewer_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"),
                                                       index=True)

    reviewer_unit: Mapped[Optional[Unit]] = relationship(foreign_keys=[reviewer_unit_id])
    reviewer: Mapped[Optional[User]] = relationship(foreign_keys=[reviewer_id])


class ReviewDecision(db.Model):
    """A decision at one step of one submission, with what the reviewer saw (result and evidence)."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    submission: Mapped[int] = mapped_column()  # Task.submissions when it was taken
    position: Mapped[int] = mapped_column()
    steps: Mapped[int] = mapped_column()  # how many steps the chain had
    step_label: Mapped[str] = mapped_column(sa.String(60))
    decision: Mapped[Decision] = mapped_column(enum_column(Decision))
    to_position: Mapped[Optional[int]] = mapped_column()  # a return to an earlier step
    rating: Mapped[Optional[Rating]] = mapped_column(enum_column(Rating))
    comment: Mapped[Optional[str]] = mapped_column(sa.Text)
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # {"result": …, "submitted_at": …, "evidence": [{"id", "filename", "size", "sha256"}, …]}
    snapshot: Mapped[dict] = mapped_column(sa.JSON)

    decided_by: Mapped[User] = relationship()

    __table_args__ = (
        sa.Index("ix_review_decisions_task_submission", "task_id", "submission", "decided_by_id"),
    )
