"""What the dashboard page shows: headline figures and chart panels with links into the lists.

Turns a `Dashboard` into labelled, linked pieces for the template: translated labels, list URLs, an
SVG chart and the same numbers as a table (the chart's accessible alternative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, url_for
from flask_babel import format_timedelta
from markupsafe import Markup

from tracker.clock import utcnow
from tracker.dashboard import charts
from tracker.dashboard.charts import Row, Series
from tracker.dashboard.services import CHILD, ELSEWHERE, Dashboard, UnitRow
from tracker.i18n import gettext as _
from tracker.reports.services import format_rate

GREEN, BLUE, RED, GREY, TEAL = "#198754", "#0d6efd", "#dc3545", "#ced4da", "#20c997"


@dataclass
class Figure:
    """One headline number with its label, an optional second line (a rate) and the list behind it."""

    key: str
    label: str
    value: int
    note: str | None = None
    href: str | None = None


@dataclass
class TableRow:
    label: str
    cells: list
    href: str | None = None


@dataclass
class Panel:
    """A chart, its title, and the same numbers as a table."""

    id: str
    title: str
    chart: Markup | None
    head: list[str]
    rows: list[TableRow] = field(default_factory=list)
    empty: str = ""
    note: str | None = None


def _rate_value(rate) -> float | None:
    return None if rate is None else float(rate)


class PagePieces:
    """Builds the figures and panels for one dashboard; holds the scope's query-string arguments."""

    def __init__(self, board: Dashboard):
        self.board = board
        f = board.figures
        self.unit_id = f.unit.id
        self.found = {"found_after": f.date_from.isoformat(), "found_before": f.date_to.isoformat()}

    # --- links into the lists ---------------------------------------------------------------

    def problems_url(self, **args) -> str:
        """The problem list narrowed to the dashboard's unit, period and `args`."""
        return url_for("problems.problem_list", **{"unit": self.unit_id, **self.found, **args})

    def tasks_url(self, unit_id: int | None = None, **args) -> str:
        """The rectification list of a unit's subtree (the list has no "found in" period)."""
        return url_for("tasks.task_list", unit=unit_id or self.unit_id, **args)

    # --- headline figures --------------------------------------------------------------------

    def figures(self) -> list[Figure]:
        """The report's headline figures, each linked to the list closest to it."""
        f = self.board.figures
        return [
            Figure("problems", _("Problems found"), f.problems, href=self.problems_url()),
            Figure("measures", _("Measures"), f.measures, href=self.tasks_url()),
            Figure("closed", _("Closed out"), f.closed, _("Closure rate %(rate)s", rate=f.closure_rate_text),
                   self.tasks_url(state="closed")),
            Figure("closed_on_time", _("Closed out on time"), f.closed_on_time,
                   _("On-time rate %(rate)s", rate=f.on_time_rate_text), self.tasks_url(state="closed")),
            Figure("in_progress", _("In progress"), f.in_progress, href=self.tasks_url(state="open")),
            Figure("overdue", _("Overdue"), f.overdue, _("as of %(date)s", date=f.as_of.isoformat()),
                   self.tasks_url(overdue=1)),
            Figure("extensions", _("Extensions granted"), f.extensions),
            Figure("notices", _("Notices issued"), f.notices_total,
                   _("%(reminders)s reminders, %(supervision)s supervision; replies on time %(rate)s",
                     reminders=f.reminder_notices, supervision=f.supervision_notices,
                     rate=f.reply_on_time_rate_text), url_for("notices.notice_list")),
            Figure("acknowledged", _("Signed for"), f.acknowledged,
                   _("Rate %(rate)s; median %(median)s", rate=f.ack_rate_text,
                     median=f.ack_median_text or "—")),
            Figure("periods_closed", _("Period close-outs"), f.periods_closed,
                   _("%(n)s periods missed", n=f.periods_missed), self.tasks_url(period_missed=1)),
            Figure("rechecks", _("Re-checks (回头看)"), f.rechecks_consolidated + f.rechecks_rebounded,
                   _("%(n)s rebounded", n=f.rechecks_rebounded), self.tasks_url(rebounded=1)),
            Figure("rated", _("Results rated"), f.rated,
                   _("Satisfied or basically satisfied %(rate)s", rate=f.satisfaction_rate_text),
                   self.tasks_url(state="closed", rating="rated")),
        ]

    # --- panels ------------------------------------------------------------------------------

    def kept(self) -> str | None:
        """How old the figures are, when they are a snapshot (tracker.dashboard.snapshots); else None."""
        kept = self.board.kept
        if kept is None:
            return None
        # Negative: babel words a past moment as "3 minutes ago" (3分钟前).
        age = format_timedelta(-max(utcnow() - kept.computed_at, timedelta(seconds=1)), threshold=1.1,
                               add_direction=True)
        seconds = f"{kept.took_ms / 1000:.1f}"
        if kept.recomputing:
            return _("These figures were counted %(age)s and are being counted again now; reload the page "
                     "in a moment for the new ones.", age=age)
        return _("Counted %(age)s (it took %(seconds)s s). Figures that take this long to count are kept for "
                 "%(minutes)s minutes.", age=age, seconds=seconds,
                 minutes=max(current_app.config["DASHBOARD_CACHE_SECONDS"] // 60, 1))

    def panels(self) -> list[Panel]:
        return [self.rates_by_unit(), self.overdue_by_unit(), self.by_period(), self.by_category(),
                self.overdue_by_leader()]

    def _unit_label(self, row: UnitRow) -> str:
        if row.kind == CHILD:
            return row.unit.name
        if row.kind == ELSEWHERE:
            return _("Other units")
        return _("%(unit)s itself", unit=row.unit.name)

    def _unit_href(self, row: UnitRow, **args) -> str | None:
        # "Itself" and "elsewhere" have no list of their own: the unit filter takes whole subtrees.
        return self.tasks_url(row.unit.id, **args) if row.kind == CHILD else None

    def rates_by_unit(self) -> Panel:
        """Closure rate and on-time rate per child unit."""
        title = _("Closure and on-time rate by unit")
        series = [Series(_("Closure rate"), GREEN), Series(_("On-time rate"), BLUE)]
        rows, table = [], []
        for r in self.board.by_unit:
            label, href = self._unit_label(r), self._unit_href(r)
            closure, on_time = format_rate(r.closure_rate), format_rate(r.on_time_rate)
            rows.append(Row(label, (_rate_value(r.closure_rate), _rate_value(r.on_time_rate)), href,
                            (closure, on_time),
                            _("%(closed)s of %(measures)s measures closed out, %(on_time)s on time",
                              closed=r.closed, measures=r.measures, on_time=r.closed_on_time)))
            table.append(TableRow(label, [r.measures, r.closed, closure, r.closed_on_time, on_time], href))
        chart = (charts.bar_chart(rows, series, chart_id="chart-rates", title=title, max_value=100)
                 if rows else None)
        return Panel("rates", title, chart, [_("Unit"), _("Measures"), _("Closed out"), _("Closure rate"),
                                             _("Closed out on time"), _("On-time rate")], table,
                     _("This unit has no units below it."))

    def overdue_by_unit(self) -> Panel:
        """Overdue measures per child unit."""
        title = _("Overdue by unit")
        rows, table = [], []
        for r in self.board.by_unit:
            label, href = self._unit_label(r), self._unit_href(r, overdue=1)
            rows.append(Row(label, (r.overdue,), href))
            table.append(TableRow(label, [r.overdue], href))
        chart = (charts.bar_chart(rows, [Series(_("Overdue"), RED)], chart_id="chart-overdue-unit",
                                  title=title) if rows else None)
        return Panel("overdue-unit", title, chart, [_("Unit"), _("Overdue")], table,
                     _("This unit has no units below it."))

    def overdue_by_leader(self) -> Panel:
        """Overdue measures per responsible leader of their problems."""
        title = _("Overdue by responsible leader")
        rows, table = [], []
        for r in self.board.overdue_by_leader:
            label = r.name or _("No responsible leader")
            href = self.problems_url(overdue=1, leader=r.leader_id) if r.leader_id else None
            rows.append(Row(label, (r.overdue,), href))
            table.append(TableRow(label, [r.overdue], href))
        chart = (charts.bar_chart(rows, [Series(_("Overdue"), RED)], chart_id="chart-overdue-leader",
                                  title=title) if rows else None)
        return Panel("overdue-leader", title, chart, [_("Responsible leader"), _("Overdue")], table,
                     _("No measure is overdue."))

    def by_period(self) -> Panel:
        """Problems found, problems closed and measures closed per month (or year)."""
        board = self.board
        title = _("Found and closed out by year") if board.by_year else _("Found and closed out by month")
        series = [Series(_("Problems found"), BLUE), Series(_("Problems closed out"), GREEN),
                  Series(_("Measures closed out"), TEAL)]
        rows, table = [], []
        for r in board.by_period:
            href = self.problems_url(found_after=r.start.isoformat(), found_before=r.end.isoformat())
            values = (r.problems_found, r.problems_closed, r.measures_closed)
            rows.append(Row(r.label, values, href))
            table.append(TableRow(r.label, list(values), href))
        chart = charts.line_chart(rows, series, chart_id="chart-period", title=title)
        head = [_("Year") if board.by_year else _("Month"), *(s.name for s in series)]
        return Panel("period", title, chart, head, table,
                     note=_("A point links to the problems found in that month or year."))

    def by_category(self) -> Panel:
        """Measures closed and not yet closed per problem category."""
        title = _("By category")
        series = [Series(_("Closed out"), GREEN), Series(_("Not yet closed out"), GREY)]
        rows, table = [], []
        for r in self.board.figures.by_category:
            label, href = str(r.label), self.problems_url(category=r.key)
            note = _("%(n)s problems", n=r.problems)
            rows.append(Row(label, (r.closed, r.measures - r.closed), href, note=note))
            table.append(TableRow(label, [r.problems, r.measures, r.closed, r.closure_rate], href))
        chart = (charts.stacked_bars(rows, series, chart_id="chart-category", title=title)
                 if rows else None)
        return Panel("category", title, chart,
                     [_("Category"), _("Problems"), _("Measures"), _("Closed out"), _("Closure rate")], table,
                     _("No problems found in this period."))
