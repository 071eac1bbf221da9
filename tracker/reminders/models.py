"""The outbox (提醒): one row per reminder to one person, and the scheduler's leader lease."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.channels.models import UnitChannel
from tracker.clock import utcnow
from tracker.enums import LabelledEnum, enum_column
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.tasks.models import Task


class NotificationKind(LabelledEnum):
    ASSIGNED = "assigned"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    ESCALATION = "escalation"
    ONGOING = "ongoing"
    DIGEST = "digest"
    SUBMITTED = "submitted"
    REJECTED = "rejected"
    VERIFIED = "verified"
    ACK_DUE = "ack_due"
    ACK_ESCALATION = "ack_escalation"
    NOTICE_ISSUED = "notice_issued"
    NOTICE_REPLY_DUE = "notice_reply_due"
    NOTICE_REPLY_ESCALATION = "notice_reply_escalation"
    PERIOD_DUE = "period_due"
    PERIOD_MISSED = "period_missed"
    RECHECK_DUE = "recheck_due"
    UNIT_DAILY = "unit_daily"
    UNIT_WEEKLY = "unit_weekly"

    @classmethod
    def _labels(cls):
        return {
            cls.ASSIGNED: _l("Assignment notice"),
            cls.DUE_SOON: _l("Due soon"),
            cls.OVERDUE: _l("Overdue reminder"),
            cls.ESCALATION: _l("Escalation"),
            cls.ONGOING: _l("Progress reminder"),
            cls.DIGEST: _l("Weekly digest"),
            cls.SUBMITTED: _l("Awaiting your verification"),
            cls.REJECTED: _l("Returned for more work"),
            cls.VERIFIED: _l("Closed out"),
            cls.ACK_DUE: _l("Not signed for"),
            cls.ACK_ESCALATION: _l("Not signed for: escalation"),
            cls.NOTICE_ISSUED: _l("Notice received"),
            cls.NOTICE_REPLY_DUE: _l("Notice reply overdue"),
            cls.NOTICE_REPLY_ESCALATION: _l("Notice reply overdue: escalation"),
            cls.PERIOD_DUE: _l("Period result due"),
            cls.PERIOD_MISSED: _l("Period missed"),
            cls.RECHECK_DUE: _l("Re-check due"),
            cls.UNIT_DAILY: _l("Unit's daily summary"),
            cls.UNIT_WEEKLY: _l("Unit's weekly summary"),
        }


class NotificationStatus(LabelledEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {
            cls.PENDING: _l("Waiting"),
            cls.SENDING: _l("Sending"),
            cls.SENT: _l("Sent"),
            cls.FAILED: _l("Failed"),
            cls.CANCELLED: _l("Cancelled"),
        }


class Channel(LabelledEnum):
    EMAIL = "email"
    ROBOT = "robot"  # a unit's group robot or webhook (tracker.channels)

    @classmethod
    def _labels(cls):
        return {cls.EMAIL: _l("Email"), cls.ROBOT: _l("Group robot")}


class Notification(db.Model):
    """An outgoing reminder; the in-app list reads the same rows.

    `deadline` and `owner_id` are the task's state when the rule fired: the outbox compares
    them with the task before sending, so a reminder that no longer holds is cancelled.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by the (user_id, created_at) and (user_id, read_at) indexes below. A message to a unit's
    # group robot has a channel instead of a person.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit_channels.id", ondelete="CASCADE"),
                                                   index=True)
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel), default=Channel.EMAIL)
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    # A notice's message (提醒函 / 督办单) names its notice instead of a measure.
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id", ondelete="SET NULL"),
                                                  index=True)
    deadline: Mapped[date | None] = mapped_column(sa.Date)
    owner_id: Mapped[int | None] = mapped_column()
    subject: Mapped[str] = mapped_column(sa.String(255))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    # A robot message's structured content (counts, items with links) for the JSON webhook.
    data: Mapped[dict | None] = mapped_column(sa.JSON)
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # How it left: "smtp", "file:<name>", "in-app only (no email address)" …
    delivery_note: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User | None] = relationship()
    channel_ref: Mapped[UnitChannel | None] = relationship()
    task: Mapped[Task | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.CheckConstraint("(user_id IS NULL) <> (channel_id IS NULL)", name="one_recipient"),
        # The flush query: what is due to go out now.
        sa.Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        # A user's list, newest first, and the unread badge.
        sa.Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class SchedulerLease(db.Model):
    """Who runs the scheduler's jobs now; heartbeat_at also tells a health check it is alive."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(120))
    acquired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ReminderSweep(db.Model):
    """When a reminder rule last looked at every measure it could concern (tracker.reminders.sweeps)."""

    __tablename__ = "reminder_sweeps"

    rule: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    swept_on: Mapped[date] = mapped_column(sa.Date)  # the business day of that sweep
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))  # real time it began
    stamp: Mapped[str | None] = mapped_column(sa.String(32))  # the reference stamp it read
