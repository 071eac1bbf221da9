"""回头看 on the task page: a manager schedules a re-check, the named reviewer records a rebound with a
file and a new deadline (the measure reopens as round 2, its rounds shown), or a manager cancels it;
others get no form and a refusal."""

from __future__ import annotations

import io
import re

import pytest

from tracker.enums import TaskState
from tracker.extensions import db
from tracker.followup import rechecks
from tracker.followup.models import Recheck, RecheckState
from tracker.tasks import services as tasks


@pytest.fixture
def closed(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a, measure="规范档案管理")
    tasks.submit(task, org.staff_a, clock, result="档案已整理归档")
    tasks.verify(task, org.mgr_a, clock)
    db.session.commit()
    return task


def test_schedule_then_rebound_on_the_page(client, org, login_as, closed):
    task = closed
    login_as(org.mgr_a)
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-schedule-recheck"' in html
    form = html.split('id="form-schedule-recheck"')[1]
    options = dict(re.findall(r'<option value="(\d+)">([^<]+)</option>', form))
    assert str(org.viewer_root.id) in options and str(org.staff_a.id) not in options  # never the owner
    refused = client.post(f"/tasks/{task.id}/rechecks", data={"recheck-due_on": "2026-01-01",
                                                              "recheck-reviewer": str(org.viewer_root.id)})
    assert refused.status_code == 422 and "recheck-due_on" in refused.get_data(as_text=True)
    done = client.post(f"/tasks/{task.id}/rechecks", data={"recheck-due_on": "2026-07-15",
                                                           "recheck-reviewer": str(org.viewer_root.id)})
    assert done.status_code == 302
    recheck = db.session.query(Recheck).one()
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-schedule-recheck"' not in html and 'id="form-cancel-recheck"' in html
    assert 'id="form-record-recheck"' not in html  # the manager is not the reviewer

    login_as(org.viewer_root)
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-record-recheck"' in html
    prefix = f"recheck{recheck.id}"
    missing = client.post(f"/rechecks/{recheck.id}/record", data={f"{prefix}-outcome": "rebounded"},
                          content_type="multipart/form-data")
    assert missing.status_code == 422
    recorded = client.post(f"/rechecks/{recheck.id}/record", data={
        f"{prefix}-outcome": "rebounded", f"{prefix}-note": "档案又出现缺页",
        f"{prefix}-new_deadline": "2026-08-31",
        f"{prefix}-files": (io.BytesIO(b"%PDF-1.4 x"), "复查记录.pdf")}, content_type="multipart/form-data")
    assert recorded.status_code == 302
    db.session.expire_all()
    assert recheck.state == RecheckState.REBOUNDED and task.state == TaskState.IN_PROGRESS and task.round == 2
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="task-round"' in html and 'data-round="1"' in html and "档案已整理归档" in html
    assert "复查记录.pdf" in html
    problem = client.get(f"/problems/{task.problem_id}").get_data(as_text=True)
    assert 'data-rebounded="1"' in problem


def test_others_cannot_record_and_a_manager_cancels(client, org, login_as, closed, clock):
    recheck = rechecks.schedule(org.mgr_a, closed, clock, due_on=closed.closed_on, reviewer=org.mgr_root)
    db.session.commit()
    prefix = f"recheck{recheck.id}"
    login_as(org.mgr_a)
    refused = client.post(f"/rechecks/{recheck.id}/record", data={f"{prefix}-outcome": "consolidated"},
                          content_type="multipart/form-data")
    assert refused.status_code == 302 and db.session.get(Recheck, recheck.id).state == RecheckState.SCHEDULED
    login_as(org.mgr_b)
    assert client.post(f"/rechecks/{recheck.id}/record", data={}).status_code == 404
    assert client.post("/rechecks/999999/record", data={}).status_code == 404
    login_as(org.mgr_a_2)
    no_reason = client.post(f"/rechecks/{recheck.id}/cancel", data={})
    assert no_reason.status_code == 422
    done = client.post(f"/rechecks/{recheck.id}/cancel", data={f"cancel{recheck.id}-comment": "重复安排"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Recheck, recheck.id).state == RecheckState.CANCELLED
