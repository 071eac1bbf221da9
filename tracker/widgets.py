"""The widgets on every row of the lists: traffic light, state badges, deadline, days left; a
problem's state, source and measure counts.

Python functions rather than Jinja macros: the 整改清单 and 我的任务 pages call them for each of
50–100 rows, and a macro call alone costs several times a function call (100 rows × 4 macros
were a quarter of 我的任务). They produce the same markup a macro would, and escape every value.
Templates call them with the row; `today` and the due-soon window come from the template context.
"""

from __future__ import annotations

from jinja2 import pass_context
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

from tracker.enums import ProblemState, TaskState
from tracker.extensions import MAX_ID
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l

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


# The words of the measure's widgets (lazy: they are translated once per page, by Painter).
OVERDUE_FOR = _l("Overdue %(n)s d")
NOT_SIGNED_FOR = _l("Not signed for")
CLOSED_LATE = _l("Closed late")
ORIGINAL_DEADLINE = _l("Original deadline")
ORIGINALLY = _l("originally %(d)s")
NO_DEADLINE = _l("No deadline")
DAYS_OVERDUE = _l("%(n)s d overdue")
DAYS_LEFT = _l("%(n)s d left")
DUE_TODAY = _l("Due today")
DEADLINE_PASSED = _l("Deadline passed")


class Painter:
    """The markup of a measure's widgets for one page: each translation and badge is made once per page
    and reused on every row (a row asked for up to six translations, each through Flask's proxies)."""

    def __init__(self, today=None, due_soon_days: int = 0) -> None:
        self.today, self.days = today, due_soon_days
        self.memo: dict = {}

    @classmethod
    def of(cls, ctx) -> Painter:
        """The painter for a template context's `today` and due-soon window."""
        return cls(ctx["today"], ctx["due_soon_days"])

    def _translated(self, word) -> str:
        found = self.memo.get(id(word))
        if found is None:
            found = self.memo[id(word)] = str(word)
        return found

    def word(self, word) -> str:
        """A word (one of the lazy strings above) in the page's language, escaped."""
        return str(escape(self._translated(word)))

    def format(self, word, **values) -> str:
        """A word with `values` put in, escaped (as escape(gettext(msgid, **values)))."""
        return str(escape(self._translated(word) % values))

    def light(self, task) -> str:
        """The traffic light (红黄绿灯) of an open measure; nothing once closed or cancelled."""
        lamp = task.light(self.today, self.days)
        if lamp is None:
            return ""
        found = self.memo.get(lamp)
        if found is None:
            label = escape(lamp.label)
            found = self.memo[lamp] = (f'<span class="light light-{lamp.value}" title="{label}" data-light='
                                       f'"{lamp.value}"><span class="visually-hidden">{label}</span></span>')
        return found

    def state(self, task) -> str:
        """The state badge, with "overdue N days" and "closed late" badges where they apply."""
        state = task.state
        html = self.memo.get(state)
        if html is None:
            html = self.memo[state] = (f'<span class="badge bg-{STATE_BADGES[state]}" '
                                       f'data-state="{state.value}">{escape(state.label)}</span>')
        overdue = task.days_overdue(self.today)
        if overdue:
            html += f' <span class="badge bg-danger">{self.format(OVERDUE_FOR, n=overdue)}</span>'
        if task.awaiting_ack:
            html += (f' <span class="badge bg-warning text-dark" data-ack="waiting">'
                     f'{self.word(NOT_SIGNED_FOR)}</span>')
        if task.closed_late:
            html += f' <span class="badge bg-warning-subtle text-dark border">{self.word(CLOSED_LATE)}</span>'
        return html

    def deadline(self, task) -> str:
        """The deadline, and the original one under it when an extension moved it."""
        html = _date(task.deadline) if task.deadline else '<span class="text-muted">—</span>'
        if task.original_deadline and task.original_deadline != task.deadline:
            html += (f'\n    <div class="small text-muted" title="{self.word(ORIGINAL_DEADLINE)}">'
                     f'{self.format(ORIGINALLY, d=_date(task.original_deadline))}</div>')
        return html

    def days_left(self, task) -> str:
        """Days left until the deadline, or how far past it an open measure is."""
        if not task.state.is_open:
            return ""
        if not task.deadline:
            return f'<span class="text-muted">{self.word(NO_DEADLINE)}</span>'
        n = (task.deadline - self.today).days
        if task.is_overdue(self.today):
            return (f'<span class="text-danger fw-semibold" data-days="{n}">'
                    f'{self.format(DAYS_OVERDUE, n=-n)}</span>')
        if n > 0:
            cls = "text-warning-emphasis fw-semibold" if n <= self.days else "text-muted"
            return f'<span class="{cls}" data-days="{n}">{self.format(DAYS_LEFT, n=n)}</span>'
        if n == 0:
            return (f'<span class="text-warning-emphasis fw-semibold" data-days="0">'
                    f'{self.word(DUE_TODAY)}</span>')
        return f'<span class="text-muted" data-days="{n}">{self.word(DEADLINE_PASSED)}</span>'


@pass_context
def light(ctx, task) -> Markup:
    """The traffic light (红黄绿灯) of an open measure; nothing once closed or cancelled."""
    return Markup(Painter.of(ctx).light(task))


@pass_context
def task_state(ctx, task) -> Markup:
    """The state badge, with "overdue N days" and "closed late" badges where they apply."""
    return Markup(Painter.of(ctx).state(task))


def deadline(task) -> Markup:
    """The deadline, and the original one under it when an extension moved it."""
    return Markup(Painter().deadline(task))


@pass_context
def days_left(ctx, task) -> Markup:
    """Days left until the deadline, or how far past it an open measure is."""
    return Markup(Painter.of(ctx).days_left(task))


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


# --- whole rows ------------------------------------------------------------------------------------
# The two long lists write their rows here, in one call per page: a Jinja row of ten expressions and
# widget calls cost ~350,000 instructions, two-fifths of the 整改清单 and more of 我的任务. The markup
# is the templates' own, byte for byte, with every value escaped as `{{ }}` would.


def _truncate(ctx, text, length: int) -> str:
    """Jinja's `text|truncate(length, True, '…')`."""
    return do_truncate(ctx.environment, text, length, True, "…")


def _links(url) -> tuple[str, str]:
    """The text before and after the id in the links an url function (task_url, problem_url) builds."""
    head, tail = url(MAX_ID).split(str(MAX_ID))
    return str(escape(head)), str(escape(tail))


@pass_context
def task_list_rows(ctx, rows, can_issue: bool) -> Markup:
    """The rows of the 整改清单 (tasks/list.html): tasks.queries.ListRow, with a tick box for those who
    may issue notices."""
    paint = Painter.of(ctx)
    task_head, task_tail = _links(ctx["task_url"])
    problem_head, problem_tail = _links(ctx["problem_url"])
    select = _("Select")  # trusted markup, as a template's _() is
    types: dict = {}
    parts = []
    for task in rows:
        tid = task.id
        kind = types.get(task.type)
        if kind is None:
            kind = types[task.type] = escape(task.type.label)
        tick = (f'<td><input class="form-check-input" type="checkbox" name="task" value="{tid}" '
                f'aria-label="{select} #{tid}"></td>' if can_issue else "")
        parts.append(
            f'\n      <tr data-task="{tid}">\n        {tick}\n        <td>{paint.light(task)}</td>\n'
            f'        <td class="text-nowrap"><a href="{problem_head}{task.problem_id}{problem_tail}" '
            f'title="{escape(_truncate(ctx, task.problem_description, 120))}">'
            f'{escape(task.problem_number)}</a></td>\n'
            f'        <td class="text-cell"><a href="{task_head}{tid}{task_tail}">'
            f'{escape(_truncate(ctx, task.measure, 120))}</a></td>\n'
            f'        <td class="text-nowrap">{kind}</td>\n'
            f'        <td class="text-nowrap">{escape(task.owner_name)}</td>\n'
            f'        <td>{escape(task.unit_name)}</td>\n'
            f'        <td class="text-nowrap">{paint.deadline(task)}</td>\n'
            f'        <td>{paint.state(task)}</td>\n      </tr>\n    ')
    return Markup("".join(parts))


@pass_context
def my_task_rows(ctx, rows) -> Markup:
    """The rows of 我的任务 (tasks/home.html): tasks.queries.HomeRow, the problem linked as
    tasks/_macros.html's problem_link does."""
    paint = Painter.of(ctx)
    task_head, task_tail = _links(ctx["task_url"])
    problem_head, problem_tail = _links(ctx["problem_url"])
    parts = []
    for task in rows:
        tid, problem = task.id, task.problem
        parts.append(
            f'\n        <tr data-task="{tid}">\n          <td>{paint.light(task)}</td>\n'
            f'          <td><a href="{problem_head}{problem.id}{problem_tail}" class="text-decoration-none" '
            f'title="{escape(problem.description)}">'
            f'<span class="fw-semibold">{escape(problem.number)}</span></a>'
            f'\n  <span class="text-muted">{escape(_truncate(ctx, problem.description, 30))}</span></td>\n'
            f'          <td class="text-cell"><a href="{task_head}{tid}{task_tail}">'
            f'{escape(_truncate(ctx, task.measure, 80))}</a></td>\n'
            f'          <td class="text-nowrap">{paint.deadline(task)}</td>\n'
            f'          <td class="text-nowrap">{paint.days_left(task)}</td>\n'
            f'          <td>{paint.state(task)}</td>\n        </tr>\n      ')
    return Markup("".join(parts))


def install(app) -> None:
    app.jinja_env.globals.update(light=light, task_state=task_state, deadline=deadline, days_left=days_left,
                                 problem_state=problem_state, source_label=source_label,
                                 measure_counts=measure_counts, task_list_rows=task_list_rows,
                                 my_task_rows=my_task_rows)
