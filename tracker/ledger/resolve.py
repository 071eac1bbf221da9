"""Names, dates and words in the cells → the objects and values the services take."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import sqlalchemy as sa

from tracker import scope
from tracker.clock import Clock
from tracker.enums import SourceKind, TaskState, TaskType
from tracker.extensions import db
from tracker.followup.models import PeriodKind
from tracker.i18n import lazy_gettext as _l
from tracker.ledger import columns as C
from tracker.ledger.dates import NotADate, parse_date
from tracker.ledger.reader import Position
from tracker.ledger.report import (
    FIELD_COLUMN,
    ImportReport,
    MeasureDraft,
    NewSource,
    ProblemDraft,
    column_name,
)
from tracker.org.models import Unit, User
from tracker.problems.models import Category, Problem, Source
from tracker.tasks import services as task_services

_SPLIT = re.compile(r"[、,，;；/\n]+")
_WITH_USERNAME = re.compile(r"^(.+?)\s*\(\s*([^()]+?)\s*\)$")


class Directory:
    """Users, units, categories and sources by every name a ledger may use, loaded once.

    Only those within the importing actor's scope: a name outside it reads as a name that does
    not exist, exactly as an id does in a form or the API.
    """

    def __init__(self, actor: User):
        units = [u for u in db.session.scalars(sa.select(Unit)) if scope.may_pick_unit(actor, u)]
        users = [u for u in db.session.scalars(sa.select(User)) if scope.may_pick_person(actor, u)]
        self.usernames = {C.norm_name(u.username): u for u in users}
        self.user_names = _group(users, lambda u: C.norm_name(u.name))
        self.unit_codes = {C.norm_name(u.code): u for u in units}
        self.unit_names = _group(units, lambda u: C.norm_name(u.name))
        self.categories = {C.norm_name(c.name): c for c in db.session.scalars(sa.select(Category))}
        self.sources = {}
        for source in db.session.scalars(sa.select(Source).order_by(Source.id)):
            if scope.may_pick_source(actor, source):
                self.sources.setdefault(C.norm_name(source.name), source)

    def user(self, text: str):
        """(user, None) or (None, message); "张三", "zhangsan" and "张三(zhangsan)" all work."""
        m = _WITH_USERNAME.match(text)
        if m and C.norm_name(m[2]) in self.usernames:
            return self.usernames[C.norm_name(m[2])], None
        if C.norm_name(text) in self.usernames:
            return self.usernames[C.norm_name(text)], None
        found = self.user_names.get(C.norm_name(text), [])
        if len(found) == 1:
            return found[0], None
        if found:
            return None, _l("Several people are called %(name)s; write the username instead.", name=text)
        return None, _l("No user called %(name)s.", name=text)

    def unit(self, text: str):
        found = self.unit_names.get(C.norm_name(text), [])
        if len(found) == 1:
            return found[0], None
        if C.norm_name(text) in self.unit_codes:
            return self.unit_codes[C.norm_name(text)], None
        if found:
            return None, _l("Several units are called %(name)s; write the unit code instead.", name=text)
        return None, _l("No unit called %(name)s.", name=text)


def _group(items, key) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    return grouped


class Resolver:
    """Turns every draft's cells into service keywords, reporting each bad cell."""

    def __init__(self, actor: User, clock: Clock, report: ImportReport):
        self.actor, self.clock, self.report = actor, clock, report
        self.dir = Directory(actor)
        self.today = clock.today()
        self.undated = 0
        self.immediate_today = 0
        self.states: dict[TaskState, int] = {}

    def fail(self, draft, pos: Position, message) -> None:
        draft.ok = False
        self.report.error(pos, message)

    def resolve(self, step: Callable[[int], None] | None = None) -> None:
        """Resolve every draft; `step(rows)` is told the problems and measures done so far."""
        done = 0
        for draft in self.report.problems:
            self.problem(draft)
            for measure in draft.measures:
                self.measure(measure)
            done += 1 + len(draft.measures)
            if step is not None:
                step(done)
        self._check_numbers()
        self._summarise()

    # -- cells --

    def required(self, draft, name: str, label_key: str | None = None) -> str | None:
        cell = draft.cells.get(name)
        if cell is not None and not cell.empty:
            return cell.text
        if name not in self.report.missing:
            pos = cell.pos if cell is not None else draft.pos
            column = column_name(label_key or FIELD_COLUMN.get(name, name), self.report.lang)
            self.fail(draft, pos, _l("%(column)s is required.", column=column))
        return None

    def lookup(self, draft, name: str, finder):
        cell = draft.cells.get(name)
        if cell is None or cell.empty:
            return None
        found, message = finder(cell.text)
        if message:
            self.fail(draft, cell.pos, message)
        return found

    def date(self, draft, name: str) -> date | None:
        cell = draft.cells.get(name)
        if cell is None:
            return None
        try:
            return parse_date(cell.value)
        except NotADate:
            self.fail(draft, cell.pos, _l("%(value)s is not a date; write it like 2022-12-31.",
                                          value=cell.text))
            return None

    # -- problems --

    def problem(self, d: ProblemDraft) -> None:
        data = d.data
        data["number"] = d.number or None
        data["description"] = self.required(d, "description")
        data["category"] = self.category(d)
        lead_given = self.required(d, "lead_unit") is not None
        data["lead_unit"] = self.lookup(d, "lead_unit", self.dir.unit) if lead_given else None
        data["unit"] = self.lookup(d, "unit", self.dir.unit) or data["lead_unit"]
        if "unit" not in d.cells and "lead_unit" in d.cells:
            d.cells["unit"] = d.cells["lead_unit"]  # service errors about the unit point here
        if data["unit"] is not None and not scope.manages(self.actor, data["unit"]):
            self.fail(d, d.cells["unit"].pos, _l("No unit called %(name)s.", name=d.cells["unit"].text))
        data["found_on"] = self.date(d, "found_on")
        if data["found_on"] is None:
            data["found_on"] = self.today
            self.undated += 1
        data["responsible_leader"] = self.lookup(d, "responsible_leader", self.dir.user)
        data["responsible_person"] = self.lookup(d, "responsible_person", self.dir.user)
        data["cooperating_units"] = self.units(d, "cooperating_units")
        data["source"] = self.source(d)

    def category(self, d: ProblemDraft):
        name = self.required(d, "category")
        if name is None:
            return None
        category = self.dir.categories.get(C.norm_name(name))
        if category is None or not category.active:
            self.fail(d, d.cells["category"].pos, _l("No category called %(name)s.", name=name))
        return category

    def units(self, d: ProblemDraft, name: str) -> list[Unit]:
        cell = d.cells.get(name)
        found = []
        for part in _SPLIT.split(cell.text if cell else ""):
            if part.strip():
                unit, message = self.dir.unit(part.strip())
                if message:
                    self.fail(d, cell.pos, message)
                elif unit not in found:
                    found.append(unit)
        return found

    def source(self, d: ProblemDraft):
        cell = d.cells.get("source")
        name = (cell.text if cell else "") or d.source_name
        if not name:
            self.required(d, "source")
            return None
        d.source_name = name
        existing = self.dir.sources.get(C.norm_name(name))
        if existing is not None:
            return existing
        kind = C.guess_source_kind(name)
        kind_cell = d.cells.get("source_kind")
        if kind_cell is not None and not kind_cell.empty:
            kind = C.parse_source_kind(kind_cell.text)
            if kind is None:
                self.fail(d, kind_cell.pos, _l("%(value)s is not a kind of source.", value=kind_cell.text))
        new = self.report.new_sources.setdefault(C.norm_name(name), NewSource(name, kind or SourceKind.OTHER))
        new.drafts.append(d)
        return None

    # -- measures --

    def measure(self, m: MeasureDraft) -> None:
        data = m.data
        data["measure"] = self.required(m, "measure")
        target = m.cells.get("target")
        data["target"] = (target.text or None) if target else None
        data["type"] = self.task_type(m)
        data["deadline"] = self.deadline(m, data)
        data["period"] = self.period(m, data)
        owner = self.lookup(m, "owner", self.owner_finder) if self.required(m, "owner") else None
        data["owner"] = owner
        unit = self.lookup(m, "unit", self.dir.unit)
        data["unit"] = unit or (owner.unit if owner else None)
        if "unit" not in m.cells and "owner" in m.cells:
            m.cells["unit"] = m.cells["owner"]
        if data["unit"] is not None and not scope.manages(self.actor, data["unit"]):
            self.fail(m, m.cells["unit"].pos, _l("No unit called %(name)s.", name=m.cells["unit"].text))
        if owner is not None:
            errors: dict = {}
            task_services.check_owner(owner, errors, actor=self.actor)
            for message in errors.get("owner", []):
                self.fail(m, m.cells["owner"].pos, message)
        state_cell = m.cells.get("state")
        state = C.parse_task_state(state_cell.text) if state_cell is not None else None
        if state is not None:
            self.states[state] = self.states.get(state, 0) + 1

    def owner_finder(self, text: str):
        if len([p for p in _SPLIT.split(text) if p.strip()]) > 1:
            return None, _l("Give one responsible person per measure (%(value)s names several).", value=text)
        return self.dir.user(text)

    def task_type(self, m: MeasureDraft) -> TaskType:
        cell = m.cells.get("type")
        if cell is None or cell.empty:
            return TaskType.DEADLINE
        found = C.parse_task_type(cell.text)
        if found is None:
            self.fail(m, cell.pos, _l("%(value)s is not a type of measure (立行立改, 限期整改 or 长期坚持).",
                                      value=cell.text))
        return found or TaskType.DEADLINE

    def period(self, m: MeasureDraft, data: dict):
        """阶段性销号 of an ongoing measure: the 阶段性销号 column, or quarterly for 分阶段整改."""
        cell = m.cells.get("period")
        if cell is None or cell.empty:
            type_cell = m.cells.get("type")
            return PeriodKind.QUARTER if type_cell is not None and C.is_staged(type_cell.text) else None
        found = C.parse_period(cell.text)
        if found is None:
            self.fail(m, cell.pos, _l("%(value)s is not a period (按月, 按季度, 按半年 or 按年度).",
                                      value=cell.text))
        elif data["type"] != TaskType.ONGOING:
            self.fail(m, cell.pos, _l("Only an ongoing measure (长期坚持) is closed out period by period."))
            return None
        return found

    def deadline(self, m: MeasureDraft, data: dict) -> date | None:
        """Ledgers often write the type where the date goes: 长期坚持 needs none, 立行立改 means now."""
        cell = m.cells.get("deadline")
        written_type = C.parse_task_type(cell.text) if cell is not None and not cell.empty else None
        if written_type is not None:
            data["type"] = written_type
            if written_type == TaskType.ONGOING:
                return None
            if written_type == TaskType.IMMEDIATE:
                self.immediate_today += 1
                return self.today
        deadline = self.date(m, "deadline")
        if deadline is None and data["type"] != TaskType.ONGOING and (cell is None or cell.empty):
            self.required(m, "deadline")
        return deadline

    # -- the whole file --

    def _check_numbers(self) -> None:
        """A number may appear once in the file and must not exist in the database yet."""
        first: dict[str, ProblemDraft] = {}
        for d in self.report.problems:
            if not d.number:
                continue
            if d.number in first:
                self.fail(d, d.cells["number"].pos, _l(
                    "Problem number %(number)s appears more than once in the file (first in row %(row)s).",
                    number=d.number, row=first[d.number].pos.row))
            else:
                first[d.number] = d
        numbers = list(first)
        taken: set[str] = set()
        for i in range(0, len(numbers), 500):
            chunk = numbers[i:i + 500]
            taken.update(db.session.scalars(sa.select(Problem.number).where(Problem.number.in_(chunk))))
        for number in sorted(taken):
            d = first[number]
            self.fail(d, d.cells["number"].pos,
                      _l("Problem number %(number)s already exists.", number=number))

    def _summarise(self) -> None:
        sheet = Position(self.report.problems[0].pos.sheet if self.report.problems else "")
        if self.undated:
            self.report.warn(sheet, _l("Problems without a date found: %(n)s; today's date is used.",
                                       n=self.undated))
        if self.immediate_today:
            self.report.warn(sheet, _l("Measures marked 立行立改 without a date: %(n)s; today is used as "
                                       "their deadline.", n=self.immediate_today))
        historic = sum(n for s, n in self.states.items() if s != TaskState.ASSIGNED)
        if historic:
            self.report.warn(sheet, _l("The state column is not imported: measures marked as started, "
                                       "submitted, closed or cancelled (%(n)s) start as assigned.",
                                       n=historic))
