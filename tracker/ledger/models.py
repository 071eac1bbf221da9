"""A ledger import's background job: the check of an upload (its preview), then the import itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.enums import LabelledEnum, enum_column
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User


class JobKind(LabelledEnum):
    CHECK = "check"  # read and check the upload, keep the preview; writes nothing else
    IMPORT = "import"  # check it again and create everything, all or nothing

    @classmethod
    def _labels(cls):
        return {cls.CHECK: _l("Checking the ledger"), cls.IMPORT: _l("Importing the ledger")}


class JobState(LabelledEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @classmethod
    def _labels(cls):
        return {cls.QUEUED: _l("Waiting to start"), cls.RUNNING: _l("Running"), cls.DONE: _l("Finished"),
                cls.FAILED: _l("Failed")}


class JobPhase(LabelledEnum):
    """What a running job is doing; `done_rows` of `total` counts within the phase."""

    READING = "reading"
    CHECKING = "checking"
    SAVING = "saving"

    @classmethod
    def _labels(cls):
        return {cls.READING: _l("Reading the file"), cls.CHECKING: _l("Checking the rows"),
                cls.SAVING: _l("Saving")}


class ImportJob(db.Model):
    """One check or import of an uploaded ledger, run off the request by tracker.ledger.jobs.

    The upload waits in the store (area "imports") under `stored_name`: one check job, then at most
    one import job per upload (the unique key turns a double-clicked confirmation into one import).
    A worker claims a queued job by stamping `worker`, beats `heartbeat_at` while it runs, and writes
    `done_rows` in short transactions of their own; a running job whose heartbeat stopped is queued
    again or failed by the sweep. `report` is the preview (a check), or the numbers created (an
    import); `error` says in the owner's language why a job failed.
    """

    __tablename__ = "ledger_import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[JobKind] = mapped_column(enum_column(JobKind))
    state: Mapped[JobState] = mapped_column(enum_column(JobState), default=JobState.QUEUED)
    phase: Mapped[Optional[JobPhase]] = mapped_column(enum_column(JobPhase))
    stored_name: Mapped[str] = mapped_column(sa.String(80))
    filename: Mapped[str] = mapped_column(sa.String(255))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh_CN")
    total: Mapped[int] = mapped_column(default=0)
    done_rows: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    worker: Mapped[Optional[str]] = mapped_column(sa.String(120))
    error: Mapped[Optional[str]] = mapped_column(sa.Text)
    report: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))
    # Bumped by every change of state (claim, requeue, finish), not by progress writes.
    version: Mapped[int] = mapped_column(default=1)

    owner: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("stored_name", "kind"),
        sa.CheckConstraint("total >= 0 AND done_rows >= 0 AND attempts >= 0", name="counts"),
        sa.CheckConstraint("state <> 'running' OR worker IS NOT NULL", name="running_has_worker"),
        # The workers' claim and the sweep: queued and running jobs, oldest first.
        sa.Index("ix_ledger_import_jobs_state_id", "state", "id"),
    )

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    @property
    def percent(self) -> int:
        """How far the current phase got, 0-100."""
        return min(100, round(100 * self.done_rows / self.total)) if self.total else 0
