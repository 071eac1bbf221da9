"""The rectification list as CSV: pure, streaming, safe to open in Excel.

Used by tasks.export_csv (/tasks.csv); it lives with the API as the other machine-readable output.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date

from tracker.i18n import gettext as _
from tracker.tasks.models import Task

BOM = "\ufeff"  # Excel reads UTF-8 (and so Chinese) correctly only with it
CHUNK = 500
_FORMULA_STARTS = ("=", "+", "-", "@")


def safe(value) -> str:
    """A cell Excel will not run as a formula: text starting with = + - @ (or a tab/CR) gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if text.startswith(("\t", "\r")) or text.lstrip(" \t\r\n").startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def header() -> list[str]:
    return [_("Problem no."), _("Problem"), _("Measure"), _("Target"), _("Type"), _("Responsible person"),
            _("Responsible unit"), _("Deadline"), _("Original deadline"), _("State"), _("Overdue"),
            _("Result"), _("Closed on")]


def row(task: Task, today: date) -> list:
    """One measure; owner, unit and problem must be loaded with it."""
    return [task.problem.number, task.problem.description, task.measure, task.target, str(task.type.label),
            task.owner.name, task.unit.name, task.deadline, task.original_deadline, str(task.state.label),
            _("Yes") if task.is_overdue(today) else "", task.result, task.closed_on]


def task_csv(tasks: Iterable[Task], today: date) -> Iterator[str]:
    """The BOM, the header, then the rows, a chunk of lines at a time (memory stays flat)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe(v) for v in header()])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for n, task in enumerate(tasks, start=1):
        writer.writerow([safe(v) for v in row(task, today)])
        if n % CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
