"""Every model in one namespace, for Alembic autogenerate and for convenience in tests."""

from tracker.audit.models import AuditEvent
from tracker.auth.models import ApiToken, CalendarFeed, LoginSession
from tracker.channels.models import UnitChannel
from tracker.dashboard.models import DashboardSnapshot
from tracker.followup.models import Recheck, RecheckSample, TaskPeriod, TaskRound
from tracker.ledger.models import ImportJob
from tracker.org.models import ReferenceStamp, Unit, User
from tracker.problems.models import Category, Problem, Source, problem_cooperating_units
from tracker.reminders.models import Notification, ReminderSweep, SchedulerLease
from tracker.review.models import ReviewDecision, ReviewStep, TaskReviewStep
from tracker.supervision.models import (
    Notice,
    NoticeCounter,
    NoticeFile,
    NoticeRecipient,
    NoticeReply,
    NoticeTask,
)
from tracker.tasks.models import Evidence, Extension, Progress, Task

__all__ = [
    "UnitChannel",
    "ApiToken",
    "AuditEvent",
    "CalendarFeed",
    "DashboardSnapshot",
    "Category",
    "Evidence",
    "Extension",
    "ImportJob",
    "LoginSession",
    "Notice",
    "NoticeCounter",
    "NoticeFile",
    "NoticeRecipient",
    "NoticeReply",
    "NoticeTask",
    "Notification",
    "Problem",
    "ReminderSweep",
    "ReviewDecision",
    "ReviewStep",
    "Progress",
    "Recheck",
    "RecheckSample",
    "ReferenceStamp",
    "SchedulerLease",
    "Source",
    "Task",
    "TaskPeriod",
    "TaskReviewStep",
    "TaskRound",
    "Unit",
    "User",
    "problem_cooperating_units",
]
