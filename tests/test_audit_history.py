"""One presenter of audit events' before/after values, for the problem page's history and the task
page's timeline: names looked up once per table, states and types shown by their labels."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.audit.queries import names_in
from tracker.enums import ProblemState, TaskState, TaskType
from tracker.extensions import db
from tracker.problems.models import Category


@pytest.fixture
def problem(org, make):
    p = make.problem(org.mgr_a, number="ZC-9", responsible_leader=org.mgr_a)
    db.session.commit()
    return p


@pytest.fixture
def task(org, make, problem):
    t = make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    db.session.commit()
    return t


def problem_edit(org, problem, clock, n: int = 1) -> list[AuditEvent]:
    """`n` edits of a problem naming a category, a source, units and people."""
    cats = db.session.scalars(sa.select(Category).order_by(Category.id)).all()
    people = [org.staff_a, org.staff_a1, org.mgr_a_2, org.mgr_root]
    events = []
    for i in range(n):
        events.append(audit.record(
            org.mgr_a, clock, "problem.update", problem, problem_id=problem.id,
            before={"category_id": cats[0].id, "unit_id": org.a.id, "responsible_person_id": None,
                    "cooperating_unit_ids": []},
            after={"category_id": cats[1].id, "source_id": problem.source_id, "unit_id": org.a1.id,
                   "responsible_person_id": people[i % 4].id, "cooperating_unit_ids": [org.a1.id, 999999]}))
    events.append(audit.record(None, clock, "problem.state", problem, problem_id=problem.id,
                               before={"state": "open", "closed_on": None},
                               after={"state": "closed", "closed_on": "2026-06-15"}))
    db.session.commit()
    return events


def task_changes(org, task, clock, n: int = 1) -> list[AuditEvent]:
    """`n` reassignments and an edit of a measure."""
    people = [org.staff_a1, org.staff_a, org.mgr_a_2, org.mgr_a]
    ids = {"task_id": task.id, "problem_id": task.problem_id}
    events = [audit.record(org.mgr_a, clock, "task.reassign", task, **ids,
                           before={"owner_id": org.staff_a.id, "unit_id": org.a.id},
                           after={"owner_id": people[i % 4].id, "unit_id": org.a1.id})
              for i in range(n)]
    events.append(audit.record(org.mgr_a, clock, "task.update", task, **ids,
                               before={"type": "deadline", "target": ""},
                               after={"type": "ongoing", "target": "长期"}))
    db.session.commit()
    return events


def test_names_in_one_query_per_table(org, problem, task, clock, queries):
    problem_edit(org, problem, clock)
    task_changes(org, task, clock)
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action != "problem.create")
                                .order_by(AuditEvent.id)).all()
    with queries() as statements:
        names = names_in(events)
    assert len(statements) == 4  # users, units, sources, categories
    with queries() as statements:
        assert names_in([]).names == {} and names_in(events[-1:]).names == {}
    assert statements == []
    ev = events[0]
    assert names.show(ev, "unit_id", org.a1.id) == "第一党支部一组"
    assert names.show(ev, "cooperating_unit_ids", [org.a1.id, 999999]) == "第一党支部一组、#999999"
    assert names.show(ev, "responsible_person_id", org.staff_a.id) == "张三"
    assert names.show(ev, "source_id", problem.source_id) == problem.source.name
    assert names.show(ev, "responsible_person_id", None) is None
    assert names.show(ev, "cooperating_unit_ids", []) is None
    assert names.show(ev, "description", "文字") == "文字"


def test_values_of_enums_read_as_their_labels(org, problem, task, clock):
    state_event = problem_edit(org, problem, clock)[-1]
    reassign, update = task_changes(org, task, clock)
    names = names_in([state_event, reassign, update])
    assert names.show(state_event, "state", "closed") == str(ProblemState.CLOSED.label)
    assert names.show(update, "state", "closed") == str(TaskState.CLOSED.label)
    assert names.show(update, "type", "ongoing") == str(TaskType.ONGOING.label)
    assert names.show(reassign, "owner_id", org.staff_a1.id) == "李四"
    assert names.show(reassign, "owner_id", 999999) == "#999999"


def history(page: str) -> str:
    return html.unescape(page[page.index('id="history"'):])


def test_problem_page_history(org, problem, clock, login_as):
    problem_edit(org, problem, clock)
    page = history(login_as(org.mgr_a).get(f"/problems/{problem.id}").get_data(as_text=True))
    assert "问题状态随整改措施变化" in page
    assert f"：{ProblemState.OPEN.label} → {ProblemState.CLOSED.label}" in page
    assert "：— → 2026-06-15" in page
    assert "：第一党支部 → 第一党支部一组" in page and "：— → 第一党支部一组、#999999" in page
    assert "：— → 张三" in page


def test_task_page_timeline(org, task, clock, login_as):
    task_changes(org, task, clock)
    page = html.unescape(login_as(org.mgr_a).get(f"/tasks/{task.id}").get_data(as_text=True))
    changes = re.sub(r"\s+", " ", page[page.index('id="timeline"'):])
    assert "张三 → <strong>李四</strong>" in changes
    assert "第一党支部 → <strong>第一党支部一组</strong>" in changes
    assert f"{TaskType.DEADLINE.label} → <strong>{TaskType.ONGOING.label}</strong>" in changes
    assert '<del class="text-muted pre-wrap"><span class="text-muted">—</span></del> → ' in changes


def test_page_queries_do_not_grow_with_history(org, problem, task, clock, login_as, queries):
    client = login_as(org.mgr_a)
    counts = []
    for n in (1, 8):
        problem_edit(org, problem, clock, n)
        task_changes(org, task, clock, n)
        db.session.expire_all()
        with queries() as on_problem:
            assert client.get(f"/problems/{problem.id}").status_code == 200
        db.session.expire_all()
        with queries() as on_task:
            assert client.get(f"/tasks/{task.id}").status_code == 200
        counts.append((len(on_problem), len(on_task)))
    print("page queries (problem, task):", counts)
    assert counts[0] == counts[1]
