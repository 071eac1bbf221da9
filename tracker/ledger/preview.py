"""An import report as the job keeps it (JSON) and as the preview page shows it.

The check runs off the request, so what the preview page needs of its `ImportReport` is kept on the
job row: the messages rendered in the owner's language at the time of the check, the names of the
people, units, categories and sources the rows named (as they were then), plain values otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tracker.enums import SourceKind, TaskType
from tracker.ledger.report import ImportReport, Issue


def _name(obj) -> str | None:
    return getattr(obj, "name", None) if obj is not None else None


def _issue(issue: Issue) -> list:
    return [issue.sheet, issue.row, issue.column, str(issue.message)]


def report_json(report: ImportReport) -> dict:
    """What the preview page shows of `report`; call inside the locale its messages are for."""
    problems = []
    for p in report.problems:
        measures = [[m.ok, m.data.get("measure"), _name(m.data.get("owner")), _name(m.data.get("unit")),
                     getattr(m.data.get("type"), "value", None),
                     m.data["deadline"].isoformat() if m.data.get("deadline") else None]
                    for m in p.measures]
        problems.append([p.pos.sheet, p.pos.row, p.ok, p.data.get("number"), p.data.get("description"),
                         _name(p.data.get("category")), p.source_name, _name(p.data.get("lead_unit")),
                         measures])
    return {"shape": report.shape, "errors": [_issue(e) for e in report.errors],
            "warnings": [_issue(w) for w in report.warnings],
            "new_sources": [[s.name, s.kind.value] for s in report.new_sources.values()],
            "problems": problems, "measure_count": report.measure_count}


@dataclass
class MeasureRow:
    ok: bool
    measure: str | None
    owner: str | None
    unit: str | None
    type: TaskType | None
    deadline: date | None


@dataclass
class ProblemRow:
    sheet: str
    row: int | None
    ok: bool
    number: str | None
    description: str | None
    category: str | None
    source: str | None
    lead_unit: str | None
    measures: list[MeasureRow] = field(default_factory=list)


@dataclass
class NewSourceRow:
    name: str
    kind: SourceKind


@dataclass
class IssueRow:
    sheet: str
    row: int | None
    column: str | None
    message: str


@dataclass
class Preview:
    """The page's view of a kept report (templates/ledger/preview.html)."""

    shape: str | None
    errors: list[IssueRow]
    warnings: list[IssueRow]
    new_sources: list[NewSourceRow]
    problems: list[ProblemRow]
    measure_count: int

    @property
    def ok(self) -> bool:
        return not self.errors

    @classmethod
    def from_json(cls, data: dict) -> Preview:
        problems = [ProblemRow(*p[:8], measures=[
            MeasureRow(ok, measure, owner, unit, TaskType(kind) if kind else None,
                       date.fromisoformat(deadline) if deadline else None)
            for ok, measure, owner, unit, kind, deadline in p[8]]) for p in data.get("problems", [])]
        return cls(shape=data.get("shape"), errors=[IssueRow(*e) for e in data.get("errors", [])],
                   warnings=[IssueRow(*w) for w in data.get("warnings", [])],
                   new_sources=[NewSourceRow(name, SourceKind(kind))
                                for name, kind in data.get("new_sources", [])],
                   problems=problems, measure_count=data.get("measure_count", 0))
