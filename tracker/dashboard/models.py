"""Dashboard snapshots: figures kept a while because at a province's root they take seconds to count."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db


class DashboardSnapshot(db.Model):
    """The dashboard of one unit, period, day and reader's scope as computed at `computed_at`.

    Kept in the database, not in a process, so that every worker and host serves the same figures with
    the same age (tracker.dashboard.snapshots). `computing_since` marks a request recomputing it: the
    others keep serving this one meanwhile instead of all counting the same table at once.
    """

    __tablename__ = "dashboard_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="CASCADE"), index=True)
    payload: Mapped[str] = mapped_column(sa.Text)
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    took_ms: Mapped[int]
    computing_since: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
