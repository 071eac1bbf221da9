"""Fixtures and helpers of the notices' tests (提醒函 / 督办单): measures in every condition a notice
cares about, and issuing one with the clock given."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import TODAY, Factory, when

from tracker.extensions import db
from tracker.supervision import services
from tracker.tasks import services as tasks

EARLY = "2026-05-01T09:00:00"  # measures assigned then are stalled by TODAY (no progress for 14 days)


@pytest.fixture
def early(app):
    """A factory whose clock is six weeks before TODAY (to make measures that are overdue now)."""
    return Factory(when(EARLY))


@pytest.fixture
def measures(org, make, early, clock):
    """In unit A: an overdue measure (staff_a), a due-soon one with fresh progress (staff_a1, in A1),
    a stalled one (staff_a); in unit B: an overdue one (staff_b)."""
    leader = org.mgr_root
    p_a = early.problem(org.mgr_a, org.a, responsible_leader=leader, found_on=date(2026, 4, 20))
    overdue = early.task(org.mgr_a, p_a, owner=org.staff_a, deadline=TODAY - timedelta(days=5))
    due_soon = make.task(org.mgr_a, p_a, owner=org.staff_a1, deadline=TODAY + timedelta(days=2))
    tasks.post_progress(due_soon, org.staff_a1, clock, body="已部署")
    stalled = early.task(org.mgr_a, p_a, owner=org.staff_a, deadline=TODAY + timedelta(days=40))
    fresh = make.task(org.mgr_a, p_a, owner=org.staff_a, deadline=TODAY + timedelta(days=40))
    p_b = early.problem(org.mgr_b, org.b, found_on=date(2026, 4, 20))
    other = early.task(org.mgr_b, p_b, owner=org.staff_b, deadline=TODAY - timedelta(days=2))
    db.session.commit()

    class M:
        pass

    m = M()
    m.overdue, m.due_soon, m.stalled, m.fresh, m.other = overdue, due_soon, stalled, fresh, other
    return m


def issue(actor, clock, kind, *task_list, due=None, body="请抓紧整改。"):
    notice = services.issue(actor, clock, kind=kind, task_ids=[t.id for t in task_list],
                            reply_due_on=due or TODAY + timedelta(days=5), body=body)
    db.session.commit()
    return notice


