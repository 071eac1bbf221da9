"""The health check's figures: database, scheduler lease, outbox backlog — a handful of indexed queries."""

from __future__ import annotations

import importlib.metadata
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app

from tracker.clock import current_clock, utcnow
from tracker.extensions import db
from tracker.reminders.leader import LEASE_NAME
from tracker.reminders.models import Notification, NotificationStatus, SchedulerLease

BACKLOG = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.FAILED)


def app_version() -> str:
    try:
        return importlib.metadata.version("rectification-tracker")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands timestamps back naive; the app stores them in UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _age(moment: datetime | None, now: datetime) -> float | None:
    moment = _utc(moment)
    return None if moment is None else round(max((now - moment).total_seconds(), 0.0), 1)


def _database(conn) -> dict:
    started = time.perf_counter()
    conn.execute(sa.text("SELECT 1")).scalar()
    latency = (time.perf_counter() - started) * 1000
    revision = []
    if sa.inspect(conn).has_table("alembic_version"):  # a database built without Alembic has none
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return {"ok": True, "backend": conn.dialect.name, "latency_ms": round(latency, 2),
            "migration": ",".join(sorted(revision)) or None}


def _scheduler(conn) -> dict:
    c = SchedulerLease
    lease = conn.execute(sa.select(c.holder, c.acquired_at, c.heartbeat_at)
                         .where(c.name == LEASE_NAME)).first()
    ttl = int(current_app.config.get("SCHEDULER_LEASE_SECONDS", 60))
    # Election runs on real time, so the heartbeat's age does too (a fixed NOW must not make it look dead).
    age = _age(lease.heartbeat_at, utcnow()) if lease else None
    return {
        "holder": lease.holder if lease else None,
        "acquired_at": _utc(lease.acquired_at).isoformat() if lease and lease.acquired_at else None,
        "heartbeat_age_seconds": age,
        "lease_seconds": ttl,
        "alive": bool(lease and lease.holder and age is not None and age <= ttl),
    }


def _outbox(conn) -> dict:
    rows = conn.execute(
        sa.select(Notification.status, sa.func.count(), sa.func.min(Notification.created_at))
        .where(Notification.status.in_(BACKLOG)).group_by(Notification.status)
    ).all()
    found = {status: (count, oldest) for status, count, oldest in rows}
    pending = found.get(NotificationStatus.PENDING, (0, None))
    return {
        "pending": pending[0],
        "sending": found.get(NotificationStatus.SENDING, (0, None))[0],
        "failed": found.get(NotificationStatus.FAILED, (0, None))[0],
        "oldest_pending_age_seconds": _age(pending[1], current_clock().now()),
    }


def database_answers() -> bool:
    """Up or down, for anyone: one SELECT 1 on a connection of its own."""
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).scalar()
    except sa.exc.SQLAlchemyError:
        return False
    return True


def report() -> tuple[dict, bool]:
    """The health document and whether the database answered (the status code depends on it)."""
    body = {"status": "ok", "version": app_version(), "time": utcnow().isoformat(timespec="seconds")}
    try:
        with db.engine.connect() as conn:
            body["database"] = _database(conn)
            body["scheduler"] = _scheduler(conn)
            body["outbox"] = _outbox(conn)
    except sa.exc.SQLAlchemyError as exc:
        body["status"] = "down"
        body.setdefault("database", {"ok": False, "backend": db.engine.dialect.name})
        body["database"]["ok"] = False
        body["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        return body, False
    return body, True
