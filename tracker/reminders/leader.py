"""Leader election: exactly one process runs the scheduler's jobs.

PostgreSQL: a session-level `pg_try_advisory_lock` held on a dedicated connection; the server
releases it when that connection (the process) dies. The lease row is still written so a
health check can see who leads and when it last ticked.
SQLite (one machine): the lease row alone — a conditional UPDATE takes it when it is free,
ours, or its heartbeat is older than the TTL; rowcount 1 means we lead. Every tick renews it.

Election runs on the real time, not the business Clock: a fixed NOW (demos) must not freeze it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from tracker.clock import utcnow
from tracker.extensions import insert
from tracker.reminders.models import SchedulerLease

log = logging.getLogger(__name__)
LEASE_NAME = "reminders"
# Arbitrary constant identifying the reminders scheduler among advisory locks.
ADVISORY_KEY = 0x7472_6B72


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:120]


class LeaseElector:
    """The lease row decides (SQLite, or as bookkeeping next to the advisory lock)."""

    def __init__(self, engine: sa.Engine, ttl_seconds: int, holder: str | None = None, name=LEASE_NAME):
        self.engine, self.ttl, self.name = engine, timedelta(seconds=ttl_seconds), name
        self.holder = holder or holder_id()
        self.leading = False

    def _ensure_row(self, conn) -> None:
        conn.execute(insert(SchedulerLease, conn.dialect.name).values(name=self.name).on_conflict_do_nothing(
            index_elements=["name"]))

    def _take(self, conn, now, force: bool = False) -> bool:
        lease = SchedulerLease.__table__.c
        free = sa.or_(lease.holder == self.holder, lease.holder.is_(None), lease.heartbeat_at.is_(None),
                      lease.heartbeat_at < now - self.ttl)
        result = conn.execute(
            sa.update(SchedulerLease.__table__)
            .where(lease.name == self.name, sa.true() if force else free)
            .values(holder=self.holder, heartbeat_at=now,
                    acquired_at=sa.case((lease.holder == self.holder, lease.acquired_at), else_=now))
        )
        return result.rowcount == 1

    def tick(self, now: datetime | None = None, force: bool = False) -> bool:
        """Take or renew the lease; True while this process leads (`now`: real time unless a test says)."""
        now = now or utcnow()
        try:
            with self.engine.begin() as conn:
                self._ensure_row(conn)
                leading = self._take(conn, now, force)
        except sa.exc.OperationalError as exc:  # e.g. SQLite busy: not leader this tick
            log.warning("scheduler lease not renewed: %s", exc)
            leading = False
        if leading != self.leading:
            log.info("scheduler %s: %s", self.holder, "leading" if leading else "standing by")
        self.leading = leading
        return leading

    def release(self) -> None:
        lease = SchedulerLease.__table__.c
        with self.engine.begin() as conn:
            conn.execute(sa.update(SchedulerLease.__table__)
                         .where(lease.name == self.name, lease.holder == self.holder)
                         .values(holder=None, heartbeat_at=None))
        self.leading = False


class AdvisoryElector:
    """PostgreSQL: the advisory lock decides; the lease row only reports."""

    def __init__(self, engine: sa.Engine, ttl_seconds: int, holder: str | None = None):
        self.engine = engine
        self.lease = LeaseElector(engine, ttl_seconds, holder)
        self.holder = self.lease.holder
        self.conn: sa.Connection | None = None
        self.leading = False

    def _lock(self) -> bool:
        if self.conn is not None:
            try:  # still holding it? The lock lives exactly as long as this connection.
                self.conn.execute(sa.text("SELECT 1"))
                self.conn.commit()
                return True
            except sa.exc.DBAPIError:
                self._drop()
        try:
            conn = self.engine.connect()
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_KEY))).scalar()
            conn.commit()
        except sa.exc.DBAPIError as exc:
            log.warning("scheduler lock not taken: %s", exc)
            return False
        if got:
            self.conn = conn
        else:
            conn.close()
        return bool(got)

    def _drop(self, invalidate: bool = True) -> None:
        if self.conn is not None:
            try:
                if invalidate:
                    self.conn.invalidate()  # never hand a connection that may hold the lock to the pool
                self.conn.close()
            finally:
                self.conn = None

    def tick(self, now: datetime | None = None) -> bool:
        """Hold (or try for) the lock, and record the heartbeat in the lease row."""
        self.leading = self._lock()
        if self.leading:
            self.lease.tick(now, force=True)
        return self.leading

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
                self.conn.commit()
                self.lease.release()
            except sa.exc.DBAPIError:
                self._drop()
            self._drop(invalidate=False)
        self.leading = False


def make_elector(engine: sa.Engine, ttl_seconds: int, holder: str | None = None):
    """The election fitting the database: advisory lock on PostgreSQL, lease row elsewhere."""
    if engine.dialect.name == "postgresql":
        return AdvisoryElector(engine, ttl_seconds, holder)
    return LeaseElector(engine, ttl_seconds, holder)
