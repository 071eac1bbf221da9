"""The rows of the 整改清单 and of 我的任务 are written by tracker.widgets in one call per page (a Jinja
row cost a third of the page). They must be the markup the templates' own loops wrote, byte for byte,
with every user text escaped: the page rendered with the Python rows is compared with the same page
rendered with the templates' former loops put back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import TODAY, when
from jinja2 import pass_context
from markupsafe import Markup

from tracker.enums import TaskType
from tracker.extensions import db
from tracker.tasks import services

# templates/tasks/list.html and home.html before the rows moved to tracker/widgets.py (commit 99ad757).
LIST_LOOP = """{% for task in rows %}
      <tr data-task="{{ task.id }}">
        {% if can_issue %}<td><input class="form-check-input" type="checkbox" name="task" value="{{ task.id }}" aria-label="{{ _('Select') }} #{{ task.id }}"></td>{% endif %}
        <td>{{ light(task) }}</td>
        <td class="text-nowrap"><a href="{{ problem_url(task.problem_id) }}" title="{{ task.problem_description|truncate(120, True, '…') }}">{{ task.problem_number }}</a></td>
        <td class="text-cell"><a href="{{ task_url(task.id) }}">{{ task.measure|truncate(120, True, '…') }}</a></td>
        <td class="text-nowrap">{{ task.type.label }}</td>
        <td class="text-nowrap">{{ task.owner_name }}</td>
        <td>{{ task.unit_name }}</td>
        <td class="text-nowrap">{{ deadline(task) }}</td>
        <td>{{ task_state(task) }}</td>
      </tr>
    {% endfor %}"""  # noqa: E501

HOME_LOOP = """{% from "tasks/_macros.html" import problem_link %}{% for task in rows %}
        <tr data-task="{{ task.id }}">
          <td>{{ light(task) }}</td>
          <td>{{ problem_link(task.problem, 30) }}</td>
          <td class="text-cell"><a href="{{ task_url(task.id) }}">{{ task.measure|truncate(80, True, '…') }}</a></td>
          <td class="text-nowrap">{{ deadline(task) }}</td>
          <td class="text-nowrap">{{ days_left(task) }}</td>
          <td>{{ task_state(task) }}</td>
        </tr>
      {% endfor %}"""  # noqa: E501

HOSTILE = '<script>alert("x")</script> & \'quoted\' {{ 7*7 }} '


def _template_rows(loop: str):
    @pass_context
    def rows(ctx, items, can_issue=False):
        template = ctx.environment.from_string(loop)
        return Markup(template.render(dict(ctx.get_all(), rows=items, can_issue=can_issue)))

    return rows


@pytest.fixture
def hostile(org, make, clock):
    """Measures in several states whose every text is hostile, some cut, one extended, one late."""
    org.staff_a.name = "张<三>&" + HOSTILE[:20]
    org.a.name = "第一\"支部\"<i>"
    problem = make.problem(org.mgr_a, description=HOSTILE * 12)
    make.clock = when("2026-06-01T09:00:00")
    late = make.task(org.mgr_a, owner=org.staff_a, problem=problem, measure=HOSTILE,
                     deadline=TODAY - timedelta(days=4))
    make.clock = clock
    long = make.task(org.mgr_a, owner=org.staff_a, problem=problem, measure=HOSTILE * 9,
                     deadline=TODAY + timedelta(days=2), type=TaskType.ONGOING)
    due = make.task(org.mgr_a, owner=org.staff_a, problem=make.problem(org.mgr_a, description="短"),
                    measure="措" * 125, deadline=TODAY)
    submitted = make.task(org.mgr_a, owner=org.staff_a, measure="已提交" + HOSTILE)
    services.submit(submitted, org.staff_a, clock, result="完成")
    db.session.commit()
    return [late, long, due, submitted]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("page, who, loop, name", [
    ("/tasks", "mgr_root", LIST_LOOP, "task_list_rows"),
    ("/tasks?overdue=1", "mgr_a", LIST_LOOP, "task_list_rows"),
    ("/", "staff_a", HOME_LOOP, "my_task_rows"),
])
def test_rows_are_the_templates_markup(app, client, org, hostile, login_as, page, who, loop, name, lang):
    user = getattr(org, who)
    user.language = lang
    db.session.commit()
    login_as(user)
    ours = client.get(page).get_data(as_text=True)
    assert 'data-task="' in ours
    assert "<script>alert" not in ours  # every text escaped
    python_rows = app.jinja_env.globals[name]
    app.jinja_env.globals[name] = _template_rows(loop)
    try:
        theirs = client.get(page).get_data(as_text=True)
    finally:
        app.jinja_env.globals[name] = python_rows
    assert _steady(ours) == _steady(theirs)


def _steady(html: str) -> str:
    """The page without what differs between two requests (the CSRF token's timestamp)."""
    return re.sub(r'(name="csrf_token"[^>]*value=|name="csrf-token" content=)"[^"]*"', r"\1", html)
