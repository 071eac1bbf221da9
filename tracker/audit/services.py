"""Writing audit events; every service that changes something calls `record`."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from tracker.audit.models import AuditEvent
from tracker.clock import Clock
from tracker.extensions import db


def _plain(value: Any) -> Any:
    """JSON-safe form of a column value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "id"):
        return value.id
    return value


def snapshot(obj: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in fields}


def snapshot_values(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe form of values not read from an object."""
    return {name: _plain(value) for name, value in values.items()}


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, so the record shows what changed."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def record(
    actor,
    clock: Clock,
    action: str,
    obj,
    *,
    before: dict | None = None,
    after: dict | None = None,
    comment: str | None = None,
    task_id: int | None = None,
    problem_id: int | None = None,
) -> AuditEvent:
    """Append an audit event; the object must already have an id (flush first)."""
    if obj.id is None:
        db.session.flush()
    event = AuditEvent(**event_values(actor, clock, action, obj.__tablename__, obj.id, before=before,
                                      after=after, comment=comment, task_id=task_id, problem_id=problem_id))
    db.session.add(event)
    return event


def event_values(actor, clock: Clock, action: str, object_type: str, object_id: int, *,
                 before: dict | None = None, after: dict | None = None, comment: str | None = None,
                 task_id: int | None = None, problem_id: int | None = None) -> dict:
    """The columns of one audit event: what `record` adds, and what `record_many` inserts in bulk."""
    return dict(created_at=clock.now(), actor_id=actor.id if actor is not None else None, action=action,
                object_type=object_type, object_id=object_id, task_id=task_id, problem_id=problem_id,
                before=before or None, after=after or None, comment=comment)


def record_many(events: list[dict]) -> None:
    """Append many audit events at once (`event_values` of each), in the caller's transaction."""
    if events:
        db.session.execute(sa.insert(AuditEvent.__table__), events)
