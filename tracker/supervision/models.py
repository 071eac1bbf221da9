"""Notices (提醒函 / 督办单, DESIGN §3 "Supervision"): a numbered document sent to a unit about listed
measures, its recipients (each with their own 签收), its replies with files and the issuer's decision."""

from __future__ import annotations

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import LabelledEnum, enum_column
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.tasks.models import Task


class NoticeKind(LabelledEnum):
    REMINDER = "reminder"  # 提醒函: due soon or stalled
    SUPERVISION = "supervision"  # 督办单: overdue

    @classmethod
    def _labels(cls):
        return {cls.REMINDER: _l("Reminder letter (提醒函)"),
                cls.SUPERVISION: _l("Supervision order (督办单)")}

    @property
    def title(self) -> str:
        """The document's own title, always Chinese (it is an official document)."""
        return "提醒函" if self is NoticeKind.REMINDER else "督办单"


class NoticeColour(LabelledEnum):
    BLUE = "blue"  # nearing the deadline
    YELLOW = "yellow"  # stalled or rejected more than once
    RED = "red"  # overdue

    @classmethod
    def _labels(cls):
        return {cls.BLUE: _l("Blue: nearing the deadline"), cls.YELLOW: _l("Yellow: behind schedule"),
                cls.RED: _l("Red: overdue")}


class NoticeState(LabelledEnum):
    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    REPLIED = "replied"
    RETURNED = "returned"  # the reply was sent back; the addressees reply again
    CLOSED = "closed"

    @classmethod
    def _labels(cls):
        return {cls.ISSUED: _l("Issued"), cls.ACKNOWLEDGED: _l("Signed for"), cls.REPLIED: _l("Replied"),
                cls.RETURNED: _l("Reply sent back"), cls.CLOSED: _l("Closed")}


# States in which the addressees still owe a reply.
AWAITING_REPLY = (NoticeState.ISSUED, NoticeState.ACKNOWLEDGED, NoticeState.RETURNED)
AWAITING_REPLY_SQL = "state IN ('issued', 'acknowledged', 'returned')"


class RecipientRole(LabelledEnum):
    OWNER = "owner"  # responsible person of a listed measure
    MANAGER = "manager"  # a manager of a listed measure's unit
    COPY = "copy"  # the problem's responsible leader, in copy (抄送)

    @classmethod
    def _labels(cls):
        return {cls.OWNER: _l("Responsible person"), cls.MANAGER: _l("Unit manager"),
                cls.COPY: _l("In copy (responsible leader)")}


ADDRESSEE_ROLES = (RecipientRole.OWNER, RecipientRole.MANAGER)


class NoticeCounter(db.Model):
    """The last number given per issuing unit, year and kind; bumped under the row's lock."""

    __tablename__ = "notice_counters"

    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind), primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.CheckConstraint("last_number >= 0", name="last_number"),)


class Notice(db.Model):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind))
    colour: Mapped[NoticeColour] = mapped_column(enum_column(NoticeColour))
    issuing_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    year: Mapped[int] = mapped_column()
    number: Mapped[int] = mapped_column()
    addressee_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    issued_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    issued_on: Mapped[date] = mapped_column(sa.Date)  # local date of issue: the document's date
    reply_due_on: Mapped[date] = mapped_column(sa.Date)
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[NoticeState] = mapped_column(enum_column(NoticeState), default=NoticeState.ISSUED)
    replied_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    version: Mapped[int] = mapped_column(default=1)

    issuing_unit: Mapped[Unit] = relationship(foreign_keys=[issuing_unit_id])
    addressee_unit: Mapped[Unit] = relationship(foreign_keys=[addressee_unit_id])
    issued_by: Mapped[User] = relationship(foreign_keys=[issued_by_id])
    items: Mapped[list[NoticeTask]] = relationship(back_populates="notice", order_by="NoticeTask.position",
                                                   cascade="all, delete-orphan")
    recipients: Mapped[list[NoticeRecipient]] = relationship(
        back_populates="notice", order_by="NoticeRecipient.id", cascade="all, delete-orphan")
    replies: Mapped[list[NoticeReply]] = relationship(back_populates="notice", order_by="NoticeReply.id",
                                                      cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # No duplicate numbers, whatever the service does.
        sa.UniqueConstraint("issuing_unit_id", "year", "kind", "number", name="uq_notices_number"),
        sa.CheckConstraint("number > 0", name="number_positive"),
        # The list's filters and sorts.
        sa.Index("ix_notices_issued_at", "issued_at"),
        sa.Index("ix_notices_issued_on", "issued_on"),  # the period filter
        sa.Index("ix_notices_state_reply_due_on", "state", "reply_due_on"),
        sa.Index("ix_notices_kind_colour", "kind", "colour"),
        sa.Index("ix_notices_addressee_unit_id", "addressee_unit_id", "issued_at"),
        sa.Index("ix_notices_issued_by_id", "issued_by_id"),
    )

    @property
    def number_text(self) -> str:
        """The document number (文号): 〔2026〕第3期."""
        return f"〔{self.year}〕第{self.number}期"

    def reply_overdue(self, today: date) -> bool:
        return self.state in AWAITING_REPLY and self.reply_due_on < today

    @classmethod
    def reply_overdue_clause(cls, today: date):
        return sa.and_(cls.state.in_(AWAITING_REPLY), cls.reply_due_on < today)

    def __str__(self) -> str:
        return f"{self.kind.title}{self.number_text}"


class NoticeTask(db.Model):
    """A measure listed in a notice, with its light and deadline when the notice was issued."""

    __tablename__ = "notice_tasks"

    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    colour: Mapped[NoticeColour] = mapped_column(enum_column(NoticeColour))
    deadline: Mapped[Optional[date]] = mapped_column(sa.Date)

    notice: Mapped[Notice] = relationship(back_populates="items")
    task: Mapped[Task] = relationship()

    __table_args__ = (sa.Index("ix_notice_tasks_task_id", "task_id"),)


class NoticeRecipient(db.Model):
    """Who receives a notice, as what, and when they signed for it (签收)."""

    __tablename__ = "notice_recipients"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    role: Mapped[RecipientRole] = mapped_column(enum_column(RecipientRole))
    acknowledged_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))

    notice: Mapped[Notice] = relationship(back_populates="recipients")
    user: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("notice_id", "user_id", name="uq_notice_recipients_user"),
        # "My notices": a user's, newest first.
        sa.Index("ix_notice_recipients_user_id", "user_id", "notice_id"),
    )

    @property
    def is_addressee(self) -> bool:
        return self.role in ADDRESSEE_ROLES


class NoticeReply(db.Model):
    """An addressee's reply (反馈) and the issuer's decision on it."""

    __tablename__ = "notice_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    accepted: Mapped[Optional[bool]] = mapped_column()  # None until decided
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    decision_reason: Mapped[Optional[str]] = mapped_column(sa.Text)

    notice: Mapped[Notice] = relationship(back_populates="replies")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    decided_by: Mapped[Optional[User]] = relationship(foreign_keys=[decided_by_id])
    files: Mapped[list[NoticeFile]] = relationship(back_populates="reply", order_by="NoticeFile.id")


class NoticeFile(db.Model):
    """A file attached to a reply; stored like evidence (tracker.tasks.evidence) under instance/uploads."""

    __tablename__ = "notice_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    reply_id: Mapped[int] = mapped_column(sa.ForeignKey("notice_replies.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    reply: Mapped[NoticeReply] = relationship(back_populates="files")

    __table_args__ = (sa.CheckConstraint("size >= 0", name="size"),)
