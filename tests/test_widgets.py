"""The row widgets (tracker/widgets.py): the markup of each case, in both languages."""

from __future__ import annotations

from datetime import date, timedelta

import flask_babel
import pytest
from conftest import TODAY
from flask import render_template_string

from tracker.enums import TaskState, TaskType
from tracker.tasks.models import TaskRules


class Row(TaskRules):
    def __init__(self, state=TaskState.IN_PROGRESS, deadline=None, original_deadline=None, closed_on=None,
                 type=TaskType.DEADLINE):
        self.state, self.deadline, self.original_deadline = state, deadline, original_deadline
        self.closed_on, self.type = closed_on, type
        self.ack_required, self.acknowledged_at = False, None  # not asked for 签收 (as imported ledgers)


def render(app, source: str, row: Row, locale: str = "zh_CN") -> str:
    with app.test_request_context("/"), flask_babel.force_locale(locale):
        return render_template_string(source, task=row)


DAY = timedelta(days=1)
CASES = [
    (Row(deadline=TODAY - 3 * DAY), "light", '<span class="light light-red" title="已逾期" data-light="red">'
                                             '<span class="visually-hidden">已逾期</span></span>'),
    (Row(deadline=TODAY + DAY), "light", 'data-light="yellow"'),
    (Row(deadline=TODAY + 60 * DAY), "light", 'data-light="green"'),
    (Row(state=TaskState.CLOSED, deadline=TODAY), "light", ""),
    (Row(deadline=TODAY - 3 * DAY), "task_state",
     '<span class="badge bg-primary" data-state="in_progress">整改中</span>'
     ' <span class="badge bg-danger">逾期3天</span>'),
    (Row(state=TaskState.CLOSED, deadline=TODAY - 5 * DAY, closed_on=TODAY), "task_state",
     '<span class="badge bg-success" data-state="closed">已销号</span>'
     ' <span class="badge bg-warning-subtle text-dark border">逾期销号</span>'),
    (Row(deadline=date(2026, 7, 1)), "deadline", "2026-07-01"),
    (Row(), "deadline", '<span class="text-muted">—</span>'),
    (Row(deadline=date(2026, 7, 1), original_deadline=date(2026, 6, 1)), "deadline",
     '2026-07-01\n    <div class="small text-muted" title="原定时限">原定2026-06-01</div>'),
    (Row(deadline=TODAY - 2 * DAY), "days_left",
     '<span class="text-danger fw-semibold" data-days="-2">逾期2天</span>'),
    (Row(deadline=TODAY + 2 * DAY), "days_left",
     '<span class="text-warning-emphasis fw-semibold" data-days="2">'),
    (Row(deadline=TODAY + 90 * DAY), "days_left", '<span class="text-muted" data-days="90">'),
    (Row(deadline=TODAY), "days_left", 'data-days="0">'),
    (Row(deadline=TODAY - DAY, type=TaskType.ONGOING), "days_left",
     '<span class="text-muted" data-days="-1">'),
    (Row(), "days_left", '<span class="text-muted">'),
    (Row(state=TaskState.CANCELLED, deadline=TODAY), "days_left", ""),
]


@pytest.mark.parametrize(("row", "widget", "expected"), CASES)
def test_widget_markup(app, row, widget, expected):
    """Whole markup where the case gives it whole (ends with a tag or is empty), else a part of it."""
    html = render(app, f"{{{{ {widget}(task) }}}}", row)
    whole = expected == "" or expected.endswith(("</span>", "</div>", "—", "-01"))
    assert (html == expected) if whole else (expected in html), html


def test_widgets_speak_english_too(app):
    row = Row(deadline=TODAY - 3 * DAY)
    assert render(app, "{{ task_state(task) }} {{ days_left(task) }}", row, "en").count("3 d") == 2


def test_problem_widgets(app):
    from types import SimpleNamespace as Obj

    from tracker.enums import ProblemState, SourceKind
    from tracker.problems.queries import TaskCounts

    def show(source: str, **context) -> str:
        with app.test_request_context("/"), flask_babel.force_locale("zh_CN"):
            return render_template_string(source, **context)

    assert show("{{ problem_state(p) }}", p=Obj(state=ProblemState.CLOSED)) == \
        '<span class="badge bg-success" data-state="closed">已销号</span>'
    assert show("{{ source_label(s) }}", s=Obj(kind=SourceKind.AUDIT, name="<审计>")).endswith(
        "</span> &lt;审计&gt;")  # a name someone typed is escaped
    assert show("{{ measure_counts(c) }}", c=TaskCounts()) == '<span class="text-muted">暂无整改措施</span>'
    counts = show("{{ measure_counts(c) }}", c=TaskCounts(total=3, closed=1, overdue=2))
    assert 'data-counts="1/3"' in counts and 'data-overdue="2"' in counts
