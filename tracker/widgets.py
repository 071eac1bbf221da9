"""The widgets on every row of the lists: traffic light, state badges, deadline, days left; a
problem's state, source and measure counts.

Python functions rather than Jinja macros: the 整改清单 and 我的任务 pages call them for each of
50–100 rows, and a macro call alone costs several times a function call (100 rows × 4 macros
were a quarter of 我的任务). They produce the same markup a macro would, and escape every value.
Templates call them with the row; `today` and the due-soon window come from the template context.
"""

from __future__ import annotations

from jinja2 import pass_context
from markupsafe import Markup, escape

from tracker.enums import ProblemState, TaskState
from tracker.i18n import gettext as _

STATE_BADGES = {
    TaskState.ASSIGNED: "secondary",
    TaskState.IN_PROGRESS: "primary",
    TaskState.SUBMITTED: "warning text-dark",
    TaskState.CLOSED: "success",
    TaskState.CANCELLED: "light text-muted border",
}


PROBLEM_BADGES = {ProblemState.OPEN: "primary", ProblemState.CLOSED: "success",
                  ProblemState.CANCELLED: "light text-muted border"}


def _date(d) -> str:
    return d.isoformat()


@pass_context
def light(ctx, task) -> Markup:
    """The traffic light (红黄绿灯) of an open measure; nothing once closed or cancelled."""
    lamp = task.light(ctx["today"], ctx["due_soon_days"])
    if lamp is None:
        return Markup("")
    label = escape(lamp.label)
    return Markup(f'<span class="light light-{lamp.value}" title="{label}" data-light="{lamp.value}">'
                  f'<span class="visually-hidden">{label}</span></span>')


@pass_context
def task_state(ctx, task) -> Markup:
    """The state badge, with "overdue N days" and "closed late" badges where they apply."""
    state = task.state
    html = (f'<span class="badge bg-{STATE_BADGES[state]}" data-state="{state.value}">'
            f'{escape(state.label)}</span>')
    overdue = task.days_overdue(ctx["today"])
    if overdue:
        html += f' <span class="badge bg-danger">{escape(_("Overdue %(n)s d", n=overdue))}</span>'
    if task.awaiting_ack:
        html += (f' <span class="badge bg-warning text-dark" data-ack="waiting">'
                 f'{escape(_("Not signed for"))}</span>')
    if task.closed_late:
        html += f' <span class="badge bg-warning-subtle text-dark border">{escape(_("Closed late"))}</span>'
    return Markup(html)


def deadline(task) -> Markup:
    """The deadline, and the original one under it when an extension moved it."""
    html = _date(task.deadline) if task.deadline else '<span class="text-muted">—</span>'
    if task.original_deadline and task.original_deadline != task.deadline:
        html += (f'\n    <div class="small text-muted" title="{escape(_("Original deadline"))}">'
                 f'{escape(_("originally %(d)s", d=_date(task.original_deadline)))}</div>')
    return Markup(html)


@pass_context
def days_left(ctx, task) -> Markup:
    """Days left until the deadline, or how far past it an open measure is."""
    if not task.state.is_open:
        return Markup("")
    if not task.deadline:
        return Markup(f'<span class="text-muted">{escape(_("No deadline"))}</span>')
    today = ctx["today"]
    n = (task.deadline - today).days
    if task.is_overdue(today):
        return Markup(f'<span class="text-danger fw-semibold" data-days="{n}">'
                      f'{escape(_("%(n)s d overdue", n=-n))}</span>')
    if n > 0:
        cls = "text-warning-emphasis fw-semibold" if n <= ctx["due_soon_days"] else "text-muted"
        return Markup(f'<span class="{cls}" data-days="{n}">{escape(_("%(n)s d left", n=n))}</span>')
    if n == 0:
        return Markup(f'<span class="text-warning-emphasis fw-semibold" data-days="0">'
                      f'{escape(_("Due today"))}</span>')
    return Markup(f'<span class="text-muted" data-days="{n}">{escape(_("Deadline passed"))}</span>')


def problem_state(problem) -> Markup:
    """The state as a badge, and 反弹 beside it when a re-check found one of its measures rebounded."""
    state = problem.state
    badge = Markup(f'<span class="badge bg-{PROBLEM_BADGES[state]}" data-state="{state.value}">'
                   f'{escape(state.label)}</span>')
    if getattr(problem, "rebounded_at", None) is not None:
        badge += Markup(f' <span class="badge bg-danger" data-rebounded="1">{escape(_("Rebounded"))}</span>')
    return badge


def source_label(source) -> Markup:
    """The kind of source as a badge, then its name."""
    return Markup(f'<span class="badge bg-light text-dark border">{escape(source.kind.label)}</span> '
                  f'{escape(source.name)}')


def measure_counts(c) -> Markup:
    """A problem's measures: how many of them are closed out, and how many are overdue."""
    if not (c.total or c.cancelled):
        return Markup(f'<span class="text-muted">{escape(_("No measures"))}</span>')
    html = (f'<span class="text-nowrap" data-counts="{c.closed}/{c.total}">'
            f'{escape(_("%(closed)s/%(total)s closed", closed=c.closed, total=c.total))}</span>')
    if c.overdue:
        html += (f' <span class="badge bg-danger" data-overdue="{c.overdue}">'
                 f'{escape(_("%(n)s overdue", n=c.overdue))}</span>')
    return Markup(html)


def install(app) -> None:
    app.jinja_env.globals.update(light=light, task_state=task_state, deadline=deadline, days_left=days_left,
                                 problem_state=problem_state, source_label=source_label,
                                 measure_counts=measure_counts)
