"""Append-only record of every change (痕迹管理)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clock import utcnow
from tracker.extensions import db
from tracker.org.models import User


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    object_type: Mapped[str] = mapped_column(sa.String(20))
    object_id: Mapped[int] = mapped_column()
    # Denormalised so a task's or problem's whole timeline is one indexed query.
    task_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    problem_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("problems.id", ondelete="SET NULL"), index=True
    )
    before: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    after: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    comment: Mapped[Optional[str]] = mapped_column(sa.Text)

    actor: Mapped[Optional[User]] = relationship()

    __table_args__ = (sa.Index("ix_audit_events_object", "object_type", "object_id"),)
