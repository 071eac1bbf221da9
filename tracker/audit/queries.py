"""Reading audit events for the history on the problem page and the timeline on the task page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from tracker.audit.models import AuditEvent
from tracker.enums import ProblemState, TaskState, TaskType
from tracker.extensions import db
from tracker.followup.models import PeriodKind
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem, Source
from tracker.review.models import Rating
from tracker.tasks.models import Task

# Which table an id-valued field of a problem's or a measure's snapshot points to.
REFERENCE_FIELDS: dict[str, type] = {
    "category_id": Category, "source_id": Source, "unit_id": Unit, "lead_unit_id": Unit,
    "cooperating_unit_ids": Unit, "responsible_leader_id": User, "responsible_person_id": User,
    "owner_id": User,
}

# Fields holding an enum's value, by the kind of object the event is about: shown as its label.
ENUM_FIELDS: dict[tuple[str, str], type] = {
    (Problem.__tablename__, "state"): ProblemState,
    (Task.__tablename__, "state"): TaskState,
    (Task.__tablename__, "type"): TaskType,
    (Task.__tablename__, "rating"): Rating,
    (Task.__tablename__, "period"): PeriodKind,
}


class Names:
    """The users, units, sources and categories named in some audit events' before/after values,
    and how those values read on a page."""

    def __init__(self, names: dict[tuple[str, int], str]) -> None:
        self.names = names

    def get(self, model: type, obj_id: int) -> str:
        return self.names.get((model.__tablename__, obj_id), f"#{obj_id}")

    def show(self, event: AuditEvent, field: str, value: Any) -> str | None:
        """A before/after value as the page shows it; None for "no value"."""
        if value is None or value == "" or value == []:
            return None
        enum_cls = ENUM_FIELDS.get((event.object_type, field))
        if enum_cls is not None:
            return str(enum_cls(value).label)
        model = REFERENCE_FIELDS.get(field)
        if model is not None:
            return "、".join(self.get(model, i) for i in (value if isinstance(value, list) else [value]))
        return str(value)


def names_in(events: Iterable[AuditEvent]) -> Names:
    """Names for the ids in the events' before/after values: one query per table named, at most."""
    wanted: dict[type, set[int]] = {}
    for ev in events:
        for values in (ev.before or {}, ev.after or {}):
            for field, value in values.items():
                model = REFERENCE_FIELDS.get(field)
                if model is None or value is None:
                    continue
                ids = value if isinstance(value, list) else [value]
                wanted.setdefault(model, set()).update(i for i in ids if isinstance(i, int))
    names: dict[tuple[str, int], str] = {}
    for model, ids in wanted.items():
        for obj_id, name in db.session.execute(sa.select(model.id, model.name).where(model.id.in_(ids))):
            names[(model.__tablename__, obj_id)] = name
    return Names(names)
