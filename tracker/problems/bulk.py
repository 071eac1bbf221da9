"""Many new problems with their measures at once (a ledger import of thousands of rows).

`ProblemBatch` checks each source, problem and measure with the very checks of `save_source`,
`create_problem` and `create_task` (their `check_*` halves), in the order those would run one after
another, so it refuses exactly what they refuse, with the same messages. Nothing is written until
`insert`: then the few new sources go through `save_source` itself, and the problems, their
cooperating units, the measures and their audit events are inserted in bulk (a handful of
statements per thousand rows instead of a dozen per row). What lands in the database is what the
services would have written row by row: same columns, same numbers, same audit events in the same
order; every measure starts assigned without 签收 or an assignment notice (`create_task` with
`notify_owner=False`, the import's historical ledgers), so each problem stays open and
`refresh_problem_state` would record nothing. Like the services, it never commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

import sqlalchemy as sa

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import ProblemState, SourceKind, TaskState
from tracker.extensions import db
from tracker.org.models import Unit, User
from tracker.problems import services as problem_services
from tracker.problems.models import Problem, Source, problem_cooperating_units
from tracker.tasks import services as task_services
from tracker.tasks.models import Task
from tracker.tasks.services.problem_state import derive_problem_state

CHUNK = 1000  # rows per INSERT … RETURNING round


@dataclass
class _Problem:
    number: str
    data: dict
    tasks: list[dict] = field(default_factory=list)


class ProblemBatch:
    """New sources, problems and measures, checked as they are added and written by `insert`."""

    def __init__(self, actor: User, clock: Clock, given_numbers: Iterable[str]):
        self.actor, self.clock = actor, clock
        self.numbers = problem_services.ProblemNumbers(clock, given_numbers)
        self.sources: list[Source] = []  # stand-ins (never added to the session) until `insert`
        self.problems: list[_Problem] = []

    @property
    def task_count(self) -> int:
        return sum(len(p.tasks) for p in self.problems)

    def add_source(self, *, name: str, kind: SourceKind, unit: Unit | None, held_on: date) -> Source:
        """A new source as `save_source` would create it (raises what it raises); a stand-in that
        problems of this batch may name as their source."""
        name, kind = problem_services.check_source(self.actor, self.clock, name=name, kind=kind, unit=unit,
                                                   held_on=held_on)
        source = Source(name=name, kind=kind, unit=unit, held_on=held_on)
        self.sources.append(source)
        return source

    def add_problem(self, data: dict) -> int:
        """A problem as `create_problem` takes it (raises what it raises); its key in the batch."""
        problem_services.check_new_problem(self.actor, self.clock, data, number_used=self.numbers.used)
        self.problems.append(_Problem(self.numbers.take(data.get("number")), data))
        return len(self.problems) - 1

    def number(self, key: int) -> str:
        return self.problems[key].number

    def add_task(self, key: int, **data) -> None:
        """A measure of problem `key` as `create_task` takes it (raises what it raises)."""
        problem = self.problems[key]
        held = SimpleNamespace(unit=problem.data["unit"], lead_unit=problem.data["lead_unit"])
        problem.tasks.append(task_services.check_new_task(held, self.actor, self.clock, **data))

    # --- writing ------------------------------------------------------------------------------------

    def insert(self, progress: Callable[[int], None] | None = None) -> list[int]:
        """Write everything (never commits); the new problems' ids in the order they were added.
        `progress(rows)` is told how many problems and measures are written so far."""
        created = {id(s): problem_services.save_source(self.actor, self.clock, name=s.name, kind=s.kind,
                                                       unit=s.unit, held_on=s.held_on) for s in self.sources}
        db.session.flush()  # their audit events come first, as when each was saved before the problems
        rows = [self._problem_row(p, created) for p in self.problems]
        written = _Written(progress)
        problem_ids = written.insert(Problem, [_columns(r) for r in rows])
        links = [{"problem_id": pid, "unit_id": uid}
                 for pid, row in zip(problem_ids, rows, strict=True) for uid in row["cooperating_unit_ids"]]
        if links:
            db.session.execute(sa.insert(problem_cooperating_units), links)
        task_rows = [dict(task_services.new_task_row(self.actor, self.clock, values, notify_owner=False),
                          problem_id=pid)
                     for pid, p in zip(problem_ids, self.problems, strict=True) for values in p.tasks]
        task_ids = written.insert(Task, task_rows)
        audit.record_many(self._events(rows, problem_ids, task_rows, task_ids))
        return problem_ids

    def _problem_row(self, problem: _Problem, created: dict) -> dict:
        data = dict(problem.data)
        data["source"] = created.get(id(data["source"]), data["source"])
        row = problem_services.new_problem_row(self.actor, self.clock, data, problem.number)
        # Every new measure is assigned: the state refresh_problem_state derives is the initial one.
        states = [TaskState.ASSIGNED] * len(problem.tasks)
        row["state"] = derive_problem_state(states) if states else ProblemState.OPEN
        return row

    def _events(self, rows, problem_ids, task_rows, task_ids) -> list[dict]:
        """problem.create, then task.create of each of its measures, problem after problem."""
        actor, clock = self.actor, self.clock
        events, tasks = [], iter(zip(task_rows, task_ids, strict=True))
        for pid, row, p in zip(problem_ids, rows, self.problems, strict=True):
            snapshot = problem_services.new_problem_snapshot(row)
            events.append(audit.event_values(actor, clock, "problem.create", "problems", pid, after=snapshot,
                                             problem_id=pid))
            for _ in p.tasks:
                task_row, tid = next(tasks)
                snapshot = audit.snapshot_values({f: task_row.get(f) for f in task_services.TASK_FIELDS})
                events.append(audit.event_values(actor, clock, "task.create", "tasks", tid, after=snapshot,
                                                 task_id=tid, problem_id=pid))
        return events


class _Written:
    """INSERTs of many rows, CHUNK at a time, telling `progress` the rows written so far.

    SQLite: INSERT … RETURNING of many rows per statement. PostgreSQL: the ids drawn from the table's
    sequence in one query, then a plain executemany, which psycopg pipelines; the many-row RETURNING
    statement took psycopg longer to convert (20,000 placeholders each) than the server to run."""

    def __init__(self, progress: Callable[[int], None] | None):
        self.progress, self.rows = progress, 0
        self.postgresql = db.session.get_bind().dialect.name == "postgresql"

    def insert(self, model, rows: list[dict]) -> list[int]:
        """The new rows' ids, in the rows' order."""
        table = model.__table__
        if self.postgresql:
            ids = _sequence_ids(table.name, len(rows))
            for row, new_id in zip(rows, ids, strict=True):
                row["id"] = new_id
            statement = sa.insert(table)
        else:
            ids = []
            statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            if self.postgresql:
                db.session.execute(statement, chunk)
            else:
                ids += db.session.scalars(statement, chunk)
            self.rows += len(chunk)
            if self.progress is not None:
                self.progress(self.rows)
        return ids


def _sequence_ids(table: str, count: int) -> list[int]:
    """`count` new ids of a PostgreSQL table from its own sequence, ascending (one query)."""
    if not count:
        return []
    return sorted(db.session.scalars(
        sa.text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
        {"table": table, "count": count}))


def _columns(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "cooperating_unit_ids"}
