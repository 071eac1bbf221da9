"""The rectification list as CSV: streamed, memory flat, safe to open in Excel.

A server writes a streamed body after the view has returned, when the request's session, its ORM
objects and its locale are gone. So the view prepares everything that needs the request (the scoped,
filtered, sorted statement; the labels in the user's language; today) and the body is written from
plain rows read over a connection of its own, in its own transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from tracker.clock import Clock
from tracker.enums import TaskState, TaskType
from tracker.i18n import gettext as _
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.spreadsheet import guard
from tracker.tasks.models import Task, TaskRules
from tracker.tasks.queries import TaskFilters, task_query

BOM = "\ufeff"  # Excel reads UTF-8 (and so Chinese) correctly only with it
CHUNK = 500


def safe(value) -> str:
    """A cell Excel will not run as a formula: text starting with = + - @ (or a tab/CR) gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return guard(str(value))


@dataclass(frozen=True)
class Labels:
    """The header, type and state labels and "Yes", already translated: the body is written later."""

    header: tuple[str, ...]
    types: dict[TaskType, str]
    states: dict[TaskState, str]
    yes: str

    @classmethod
    def current(cls) -> Labels:
        """The labels in the current request's language."""
        header = (_("Problem no."), _("Problem"), _("Measure"), _("Target"), _("Type"),
                  _("Responsible person"), _("Responsible unit"), _("Deadline"), _("Original deadline"),
                  _("State"), _("Overdue"), _("Result"), _("Closed on"))
        return cls(header, types={t: str(t.label) for t in TaskType},
                   states={s: str(s.label) for s in TaskState}, yes=_("Yes"))


class Row(TaskRules):
    """One measure's values (not an ORM object); overdue comes from the same rule as Task's."""

    FIELDS = ("problem_number", "problem_description", "measure", "target", "type", "owner_name",
              "unit_name", "deadline", "original_deadline", "state", "result", "closed_on")

    def __init__(self, values) -> None:
        self.__dict__.update(zip(self.FIELDS, values, strict=True))

    def cells(self, labels: Labels, today: date) -> list:
        overdue = labels.yes if self.is_overdue(today) else ""
        return [self.problem_number, self.problem_description, self.measure, self.target,
                labels.types[self.type], self.owner_name, self.unit_name, self.deadline,
                self.original_deadline, labels.states[self.state], overdue, self.result, self.closed_on]


def statement(actor: User, clock: Clock, filters: TaskFilters, sort: tuple[str, bool]) -> sa.Select:
    """The rectification list's rows (its scope, filters and sort) as plain columns in Row's order."""
    # Aliases: the list's query may already join problems (a filter or the sort by number).
    problem, owner, unit = aliased(Problem), aliased(User), aliased(Unit)
    return (task_query(actor, clock, filters, sort, load=False)
            .with_only_columns(problem.number, problem.description, Task.measure, Task.target, Task.type,
                               owner.name, unit.name, Task.deadline, Task.original_deadline, Task.state,
                               Task.result, Task.closed_on, maintain_column_froms=True)
            .join(problem, problem.id == Task.problem_id)
            .join(owner, owner.id == Task.owner_id)
            .join(unit, unit.id == Task.unit_id))


def task_csv(rows: Iterable[Row], labels: Labels, today: date) -> Iterator[str]:
    """The BOM, the header, then the rows, a chunk of lines at a time (memory stays flat)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe(v) for v in labels.header])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(rows, start=1):
        writer.writerow([safe(v) for v in row.cells(labels, today)])
        if n % CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def stream(engine: sa.Engine, stmt: sa.Select, labels: Labels, today: date) -> Iterator[str]:
    """task_csv over `stmt`, read on a connection of its own in one read transaction (a server-side
    cursor on PostgreSQL), opened at the first chunk and closed when the body ends, fails, or is
    abandoned by the client (the server then closes this generator)."""
    conn = engine.connect()
    try:
        with conn.begin():
            result = conn.execute(stmt.execution_options(yield_per=CHUNK))
            yield from task_csv(map(Row, result), labels, today)
    finally:
        conn.close()
