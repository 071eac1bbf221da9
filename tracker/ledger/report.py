"""What an import found: drafts of the problems and measures, new sources, errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from tracker.enums import SourceKind
from tracker.ledger import columns as C
from tracker.ledger.reader import Cell, Position

# The column kind a field is named after in messages.
FIELD_COLUMN = {"responsible_leader": "leader", "lead_unit": "lead_unit", "cooperating_units": "coop",
                "responsible_person": "person", "owner": "person", "unit": "unit"}


@dataclass
class Issue:
    sheet: str
    row: int | None
    column: str | None
    message: object

    @classmethod
    def at(cls, pos: Position, message) -> Issue:
        return cls(pos.sheet, pos.row, pos.column, message)


@dataclass
class MeasureDraft:
    pos: Position
    cells: dict[str, Cell]
    data: dict = field(default_factory=dict)  # create_task's keywords once resolved
    ok: bool = True


@dataclass
class ProblemDraft:
    pos: Position
    cells: dict[str, Cell]
    measures: list[MeasureDraft] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # create_problem's keywords once resolved
    source_name: str = ""
    ok: bool = True
    created_number: str | None = None

    @property
    def number(self) -> str:
        cell = self.cells.get("number")
        return C.norm_text(cell.text) if cell else ""


@dataclass
class NewSource:
    name: str
    kind: SourceKind
    drafts: list[ProblemDraft] = field(default_factory=list)


@dataclass
class ImportReport:
    """What the file holds, what will be (or was) created, and every error and warning."""

    shape: str | None = None
    problems: list[ProblemDraft] = field(default_factory=list)
    new_sources: dict[str, NewSource] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # fields whose column is missing altogether
    lang: str = "zh_CN"  # for column names in messages

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def measure_count(self) -> int:
        return sum(len(p.measures) for p in self.problems)

    def error(self, pos: Position, message) -> None:
        self.errors.append(Issue.at(pos, message))

    def warn(self, pos: Position, message) -> None:
        self.warnings.append(Issue.at(pos, message))


def column_name(key: str, lang: str) -> str:
    """A column's usual name in the user's language, for messages about missing columns."""
    return C.COLUMNS[key].title(lang)
