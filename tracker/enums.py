"""Enumerations shared by models, services, forms and templates, with translated labels."""

from __future__ import annotations

import enum

import sqlalchemy as sa

from tracker.i18n import lazy_gettext as _l

_LABELS: dict[type, dict] = {}  # per enum class, built once: the lazy strings translate when shown


class LabelledEnum(str, enum.Enum):
    """A string enum whose members carry a translated label."""

    @property
    def label(self):
        labels = _LABELS.get(type(self))
        if labels is None:
            labels = _LABELS[type(self)] = self._labels()
        return labels[self]

    @classmethod
    def _labels(cls) -> dict:
        raise NotImplementedError

    @classmethod
    def choices(cls):
        return [(m.value, m.label) for m in cls]


def enum_column(enum_cls) -> sa.Enum:
    """Stored as its value in a VARCHAR with a CHECK constraint: portable and readable."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        name=enum_cls.__name__.lower(),
        validate_strings=True,
    )


class Role(LabelledEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    STAFF = "staff"
    VIEWER = "viewer"

    @classmethod
    def _labels(cls):
        return {
            cls.ADMIN: _l("Administrator"),
            cls.MANAGER: _l("Manager"),
            cls.STAFF: _l("Staff"),
            cls.VIEWER: _l("Leader / supervisor (read-only)"),
        }


class SourceKind(LabelledEnum):
    SELF_INSPECTION = "self_inspection"
    INSPECTION_FEEDBACK = "inspection_feedback"
    SUPERVISION = "supervision"
    LIFE_MEETING = "life_meeting"
    AUDIT = "audit"
    COMPLAINT = "complaint"
    OTHER = "other"

    @classmethod
    def _labels(cls):
        return {
            cls.SELF_INSPECTION: _l("Self-inspection"),
            cls.INSPECTION_FEEDBACK: _l("Inspection feedback"),
            cls.SUPERVISION: _l("Supervision"),
            cls.LIFE_MEETING: _l("Democratic / organisational life meeting"),
            cls.AUDIT: _l("Audit"),
            cls.COMPLAINT: _l("Complaint / petition"),
            cls.OTHER: _l("Other"),
        }


class TaskType(LabelledEnum):
    IMMEDIATE = "immediate"
    DEADLINE = "deadline"
    ONGOING = "ongoing"

    @classmethod
    def _labels(cls):
        return {
            cls.IMMEDIATE: _l("Immediate"),
            cls.DEADLINE: _l("By deadline"),
            cls.ONGOING: _l("Ongoing"),
        }


class PeriodKind(LabelledEnum):
    """阶段性销号: the calendar period of an ongoing measure's results."""

    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"

    @classmethod
    def _labels(cls):
        return {cls.MONTH: _l("Monthly"), cls.QUARTER: _l("Quarterly"), cls.HALF: _l("Half-yearly"),
                cls.YEAR: _l("Yearly")}

    @property
    def months(self) -> int:
        return {"month": 1, "quarter": 3, "half": 6, "year": 12}[self.value]


class TaskState(LabelledEnum):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {
            cls.ASSIGNED: _l("Assigned"),
            cls.IN_PROGRESS: _l("In progress"),
            cls.SUBMITTED: _l("Awaiting close-out"),
            cls.CLOSED: _l("Closed out"),
            cls.CANCELLED: _l("Cancelled"),
        }

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = (TaskState.ASSIGNED, TaskState.IN_PROGRESS, TaskState.SUBMITTED)
# Only these count towards "overdue": a submitted task waits on the manager, not the owner.
OVERDUE_STATES = (TaskState.ASSIGNED, TaskState.IN_PROGRESS)


class ProblemState(LabelledEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {
            cls.OPEN: _l("Being rectified"),
            cls.CLOSED: _l("Closed out"),
            cls.CANCELLED: _l("Cancelled"),
        }


class ExtensionState(LabelledEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @classmethod
    def _labels(cls):
        return {
            cls.PENDING: _l("Pending"),
            cls.APPROVED: _l("Approved"),
            cls.REJECTED: _l("Rejected"),
        }


class Light(LabelledEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"

    @classmethod
    def _labels(cls):
        return {
            cls.RED: _l("Overdue"),
            cls.YELLOW: _l("Due soon"),
            cls.GREEN: _l("On track"),
        }
