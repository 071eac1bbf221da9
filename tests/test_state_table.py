"""The state table (tracker.tasks.rules) is the one source of who may do what from which state:
what the task page offers (`available`), what the services allow (`require`) and what the lists and
queues select (`clause`) agree for every action, every state and every kind of actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY

from tracker.enums import TaskState, TaskType
from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.tasks import queries, rules
from tracker.tasks import services as tasks
from tracker.tasks.models import Task

ACTORS = ("admin", "mgr_root", "mgr_a", "mgr_a_2", "staff_a", "staff_a1", "mgr_b", "staff_b", "viewer_root")


@pytest.fixture
def measures(org, make, clock):
    """A measure in every state (and both types), some with a pending extension request."""
    made = {}

    def new(name, owner=None, **kw):
        made[name] = make.task(org.mgr_a, owner=owner or org.staff_a, **kw)
        return made[name]

    new("assigned")
    tasks.start(new("in_progress"), org.staff_a, clock)
    tasks.submit(new("submitted_by_owner"), org.staff_a, clock, result="已整改")
    tasks.submit(new("submitted_by_mgr_a", owner=org.mgr_a), org.mgr_a, clock, result="已整改")
    t = new("closed")
    tasks.submit(t, org.staff_a, clock, result="已整改")
    tasks.verify(t, org.mgr_a, clock)
    tasks.cancel(new("cancelled"), org.mgr_a, clock, comment="重复")
    new("ongoing_without_deadline", type=TaskType.ONGOING, deadline=None)
    new("ongoing_with_deadline", type=TaskType.ONGOING, deadline=TODAY + timedelta(days=10))
    tasks.request_extension(new("extension_by_owner"), org.staff_a, clock,
                            new_deadline=TODAY + timedelta(days=60), reason="需要更多时间")
    tasks.request_extension(new("extension_by_mgr_a", owner=org.mgr_a), org.mgr_a, clock,
                            new_deadline=TODAY + timedelta(days=60), reason="需要更多时间")
    new("in_a1", owner=org.staff_a1, unit=org.a1)
    db.session.commit()
    return made


def test_states_of_the_fixture(measures):
    assert measures["submitted_by_owner"].state == TaskState.SUBMITTED
    assert measures["closed"].state == TaskState.CLOSED
    assert measures["cancelled"].state == TaskState.CANCELLED


@pytest.mark.parametrize("allow_self", [False, True])
def test_offered_selected_and_allowed_agree_for_every_action_state_and_actor(app, org, measures, allow_self):
    app.config["ALLOW_SELF_VERIFY"] = allow_self
    ids = [t.id for t in measures.values()]
    for who in ACTORS:
        actor = org.users[who]
        for action in rules.RULES:
            selected = set(db.session.scalars(
                sa.select(Task.id).where(Task.id.in_(ids), rules.clause(actor, action))))
            for name, task in measures.items():
                offered = action in rules.available(task, actor)
                assert offered == (task.id in selected), (who, action, name)
                assert offered == rules.allowed(task, actor, action), (who, action, name)
                try:
                    rules.require(task, actor, action)
                except ServiceError:
                    assert not offered, (who, action, name)
                else:
                    assert offered, (who, action, name)


def test_what_the_table_says(org, measures):
    m = measures
    assert rules.available(m["assigned"], org.staff_a) == {"acknowledge", "start", "submit", "progress",
                                                            "extend"}
    assert "acknowledge" not in rules.available(m["assigned"], org.mgr_a)  # the owner signs, no one else
    assert "acknowledge" not in rules.available(m["in_progress"], org.staff_a)  # started: signed for
    assert rules.available(m["assigned"], org.staff_b) == set()
    assert rules.available(m["assigned"], org.viewer_root) == set()
    assert {"verify", "reject", "cancel"} <= rules.available(m["submitted_by_owner"], org.mgr_a)
    # Nobody verifies their own submission; another manager may.
    assert "verify" not in rules.available(m["submitted_by_mgr_a"], org.mgr_a)
    assert "verify" in rules.available(m["submitted_by_mgr_a"], org.mgr_a_2)
    assert rules.available(m["closed"], org.mgr_a) == set()
    assert rules.available(m["cancelled"], org.admin) == set()
    # An ongoing measure has no deadline to extend; without one there is none to move either.
    assert "extend" not in rules.available(m["ongoing_with_deadline"], org.staff_a)
    assert "deadline" not in rules.available(m["ongoing_without_deadline"], org.mgr_a)
    assert "deadline" in rules.available(m["ongoing_with_deadline"], org.mgr_a)
    # Requests: the other manager decides a manager's own request.
    assert "decide_extension" in rules.available(m["extension_by_owner"], org.mgr_a)
    assert "decide_extension" not in rules.available(m["extension_by_mgr_a"], org.mgr_a)
    assert "decide_extension" in rules.available(m["extension_by_mgr_a"], org.mgr_a_2)
    # Managers above decide too; the branch next door does not.
    assert "verify" in rules.available(m["submitted_by_owner"], org.mgr_root)
    assert rules.available(m["submitted_by_owner"], org.mgr_b) == set()


def test_the_queues_select_by_the_table(org, measures):
    rows, total = queries.awaiting_verification(org.mgr_a, 50)
    assert {t.id for t in rows} == {measures["submitted_by_owner"].id} and total == 1
    rows, total = queries.awaiting_verification(org.mgr_a_2, 50)
    assert {t.id for t in rows} == {measures["submitted_by_owner"].id, measures["submitted_by_mgr_a"].id}
    rows, total = queries.pending_extensions(org.mgr_a, 50)
    assert [e.task_id for e in rows] == [measures["extension_by_owner"].id]
    rows, total = queries.pending_extensions(org.mgr_a_2, 50)
    assert {e.task_id for e in rows} == {measures["extension_by_owner"].id, measures["extension_by_mgr_a"].id}


def test_every_transition_of_the_table_lands_in_its_target_state(org, measures, clock):
    for action in rules.TRANSITIONS:
        rule = rules.RULES[action]
        task = next(t for t in measures.values() if t.state in rule.states
                    and rules.allowed(t, org.mgr_a_2, action))
        tasks.transition(task, org.mgr_a_2, clock, action, comment="理由", result="已整改")
        assert task.state == rule.to, action
        db.session.rollback()
