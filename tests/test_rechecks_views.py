"""回头看 on the task page: a manager schedules a re-check, the named reviewer records a rebound with a
file and a new deadline (the measure reopens as round 2, its rounds shown), or a manager cancels it;
others get no form and a refusal."""

from __future__ import annotations

import io
import re

import pytest
from test_api import api  # noqa: F401  (the API client fixture)

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


def test_the_rechecks_page_draws_a_sample_and_shows_it(client, org, login_as, make, clock):
    made = []
    for _ in range(4):
        task = make.task(org.mgr_a, owner=org.staff_a)
        tasks.submit(task, org.staff_a, clock, result="已整改")
        tasks.verify(task, org.mgr_a, clock)
        made.append(task.id)
    db.session.commit()
    login_as(org.mgr_a)
    page = client.get("/rechecks")
    assert page.status_code == 200 and 'id="sample-form"' in page.get_data(as_text=True)
    refused = client.post("/rechecks/sample", data={"unit": str(org.a.id), "date_from": "2026-06-01",
                                                    "date_to": "2026-06-30", "due_on": "2026-07-15",
                                                    "reviewer": str(org.mgr_a_2.id)})
    assert refused.status_code == 422  # neither share nor count
    drawn = client.post("/rechecks/sample", data={"unit": str(org.a.id), "date_from": "2026-06-01",
                                                  "date_to": "2026-06-30", "share": "50", "seed": "42",
                                                  "due_on": "2026-07-15", "reviewer": str(org.mgr_a_2.id)})
    assert drawn.status_code == 302
    html = client.get(drawn.headers["Location"]).get_data(as_text=True)
    assert 'data-population="4"' in html and 'data-size="2"' in html and 'data-same="1"' in html
    assert '<code id="seed">42</code>' in html
    assert len(re.findall(r'<tr data-task="(\d+)"', html)) == 2
    # The reviewer finds them on the home page.
    login_as(org.mgr_a_2)
    assert client.get("/").get_data(as_text=True).count("data-recheck-due=") == 2
    # Others: staff cannot draw; a manager elsewhere cannot see the sample.
    login_as(org.staff_a)
    assert client.post("/rechecks/sample", data={}).status_code == 403
    assert 'id="sample-form"' not in client.get("/rechecks").get_data(as_text=True)
    sample_url = drawn.headers["Location"]
    login_as(org.mgr_b)
    assert client.get(sample_url).status_code == 404
    assert client.get("/rechecks/samples/999999").status_code == 404


def test_re_checks_through_the_api(org, closed, api):  # noqa: F811
    task = closed
    mgr = api(org.mgr_a)
    made = mgr.post(f"/tasks/{task.id}/reviews", {"due_on": "2026-07-15", "reviewer_id": org.viewer_root.id})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["state"] == "scheduled" and body["round"] == 1
    assert mgr.post(f"/tasks/{task.id}/reviews", {"due_on": "2026-07-15", "reviewer_id": org.mgr_root.id}
                    ).status_code == 409  # one waits at a time
    assert mgr.post(f"/tasks/{task.id}/reviews", {"due_on": "2026-07-15", "reviewer_id": 999999}
                    ).status_code == 422
    staff = api(org.staff_a)
    assert staff.post(f"/tasks/{task.id}/reviews", {"due_on": "2026-07-15", "reviewer_id": org.mgr_root.id}
                      ).status_code == 403
    assert api(org.mgr_b).get(f"/tasks/{task.id}/reviews").status_code == 404
    assert [r["id"] for r in mgr.get(f"/tasks/{task.id}/reviews").get_json()["items"]] == [body["id"]]
    assert mgr.post(f"/reviews/{body['id']}/result", {"outcome": "consolidated"}).status_code == 403
    leader = api(org.viewer_root)
    missing = leader.post(f"/reviews/{body['id']}/result", {"outcome": "rebounded"})
    assert missing.status_code == 422 and {"note", "new_deadline"} <= set(missing.get_json()["fields"])
    form = {"outcome": "rebounded", "note": "档案缺页", "new_deadline": "2026-08-31",
            "files": [(io.BytesIO(b"%PDF-1.4 z"), "复查.pdf")]}
    done = leader.client.post(f"/api/v1/reviews/{body['id']}/result", data=form, headers=leader.headers,
                              content_type="multipart/form-data")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "rebounded"
    reopened = mgr.get(f"/tasks/{task.id}").get_json()
    assert reopened["state"] == "in_progress" and reopened["deadline"] == "2026-08-31"
    other = api(org.mgr_b)
    assert other.post(f"/reviews/{body['id']}/result", {"outcome": "consolidated"}).status_code == 404


def test_the_list_filters_rebounded_measures(client, org, login_as, closed, make, clock, api):  # noqa: F811
    other = make.task(org.mgr_a, owner=org.staff_a)
    recheck = rechecks.schedule(org.mgr_a, closed, clock, due_on=closed.closed_on, reviewer=org.mgr_root)
    rechecks.record(recheck, org.mgr_root, clock, rebounded=True, note="反弹", new_deadline=closed.closed_on)
    db.session.commit()
    login_as(org.mgr_a)
    html = client.get("/tasks", query_string={"rebounded": "1"}).get_data(as_text=True)
    assert set(re.findall(r'data-task="(\d+)"', html)) == {str(closed.id)}
    listed = api(org.mgr_a).get("/tasks", rebounded="true").get_json()["items"]
    assert [t["id"] for t in listed] == [closed.id] and other.id not in [t["id"] for t in listed]
