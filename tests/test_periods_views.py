"""阶段性销号 on the task page and in the API: the periods table (missed in red), the submit form with a
file, a manager's verify and return, the edit form's period, and GET|POST /tasks/{id}/periods and
POST /periods/{id}/decision with their refusals."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from conftest import when
from test_api import api  # noqa: F401  (the API client fixture)
from test_tasks_views import in_english

from tracker.enums import TaskType
from tracker.extensions import db
from tracker.followup import periods
from tracker.followup.models import PeriodKind, PeriodState, TaskPeriod


@pytest.fixture
def quarterly(app, org, make):
    """An ongoing quarterly measure of staff_a assigned 2026-11-10; the app's clock is 2027-01-05."""
    app.config["NOW"] = "2027-01-05T10:00:00"
    make.clock = when("2026-11-10T09:00:00")
    task = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None,
                     period=PeriodKind.QUARTER)
    db.session.commit()
    return task


def test_the_page_lists_periods_and_takes_a_result(client, org, login_as, quarterly):
    task = quarterly
    login_as(org.staff_a)
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="periods"' in html and 'id="periods-missed"' in html and 'id="missed-badge"' in html
    assert re.search(r'data-period="2026-10-01" class="table-danger"', html)
    assert 'id="form-submit-period"' in html and '<option value="2027-01-01">' in html
    posted = client.post(f"/tasks/{task.id}/periods", data={
        "submit_period-period_start": "2026-10-01", "submit_period-result": "四季度已落实",
        "submit_period-files": (io.BytesIO(b"%PDF-1.4 q4"), "四季度记录.pdf")},
        content_type="multipart/form-data")
    assert posted.status_code == 302
    sub = db.session.query(TaskPeriod).one()
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-state="submitted"' in html and "四季度记录.pdf" in html and 'id="periods-missed"' not in html
    assert f'data-decide-period="{sub.id}"' not in html  # the owner does not decide
    # Missing result: shown again with the error.
    refused = client.post(f"/tasks/{task.id}/periods", data={"submit_period-period_start": "2027-01-01"})
    assert refused.status_code == 422

    login_as(org.mgr_a)
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f'data-decide-period="{sub.id}"' in html
    no_reason = client.post(f"/periods/{sub.id}/decide", data={f"period{sub.id}-reject": "1"})
    assert no_reason.status_code == 302 and db.session.get(TaskPeriod, sub.id).state == PeriodState.SUBMITTED
    ok = client.post(f"/periods/{sub.id}/decide", data={f"period{sub.id}-approve": "1",
                                                        f"period{sub.id}-comment": "同意"})
    assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(TaskPeriod, sub.id).state == PeriodState.VERIFIED
    assert 'data-state="verified"' in client.get(f"/tasks/{task.id}").get_data(as_text=True)


def test_others_cannot_decide_and_unknown_ids_are_404(client, org, login_as, quarterly, clock):
    sub = periods.submit_period(quarterly, org.staff_a, when("2027-01-05T10:00:00"), result="一季度")
    db.session.commit()
    login_as(org.mgr_b)
    assert client.post(f"/periods/{sub.id}/decide", data={f"period{sub.id}-approve": "1"}).status_code == 404
    login_as(org.staff_a)
    response = client.post(f"/periods/{sub.id}/decide", data={f"period{sub.id}-approve": "1"})
    assert response.status_code == 302 and db.session.get(TaskPeriod, sub.id).state == PeriodState.SUBMITTED
    assert client.post("/periods/999999/decide", data={}).status_code == 404


def test_the_edit_form_sets_the_period(client, org, login_as, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None)
    db.session.commit()
    login_as(org.mgr_a)
    page = client.get(f"/tasks/{task.id}/edit").get_data(as_text=True)
    assert 'name="period"' in page
    saved = client.post(f"/tasks/{task.id}/edit", data={"measure": task.measure, "type": "ongoing",
                                                         "period": "month", "version": str(task.version)})
    assert saved.status_code == 302
    db.session.expire_all()
    assert task.period == PeriodKind.MONTH


def test_periods_through_the_api(org, quarterly, api):  # noqa: F811
    task = quarterly
    owner = api(org.staff_a)
    listed = owner.get(f"/tasks/{task.id}/periods").get_json()
    assert [(r["label"], r["missed"], r["current"]) for r in listed["items"]] == [
        ("2026年第四季度", True, False), ("2027年第一季度", False, True)]
    made = owner.post(f"/tasks/{task.id}/periods", {"result": "四季度已落实", "period_start": "2026-12-15"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["period_start"] == "2026-10-01" and body["state"] == "submitted" and body["files"] == []
    assert owner.post(f"/tasks/{task.id}/periods", {"result": "again", "period_start": "2026-10-01"}
                      ).status_code == 409
    assert owner.post(f"/tasks/{task.id}/periods", {"result": "x", "period_start": "2027-06-01"}
                      ).status_code == 422
    assert owner.post(f"/periods/{body['id']}/decision", {"approve": True}).status_code == 403
    assert api(org.mgr_b).post(f"/periods/{body['id']}/decision", {"approve": True}).status_code == 404
    assert api(org.mgr_b).get(f"/tasks/{task.id}/periods").status_code == 404
    returned = api(org.mgr_a).post(f"/periods/{body['id']}/decision", {"approve": False})
    assert returned.status_code == 422
    verified = api(org.mgr_a).post(f"/periods/{body['id']}/decision", {"approve": True, "comment": "同意"})
    assert verified.status_code == 200 and verified.get_json()["state"] == "verified"
    listed = owner.get(f"/tasks/{task.id}/periods").get_json()["items"]
    assert listed[0]["missed"] is False and listed[0]["result"][0]["state"] == "verified"
    # The period is set and cleared through PATCH; a measure with a deadline cannot have one.
    mgr = api(org.mgr_a)
    cleared = mgr.patch(f"/tasks/{task.id}", {"version": task.version, "period": None})
    assert cleared.status_code == 200 and cleared.get_json()["period"] is None
    plain = mgr.post("/tasks", {"problem_id": task.problem_id, "measure": "m", "owner_id": org.staff_a.id,
                                "deadline": date(2027, 3, 1).isoformat(), "period": "month"})
    assert plain.status_code == 422 and "period" in plain.get_json()["fields"]


def test_the_home_page_lists_period_results_to_verify(client, org, login_as, quarterly):
    sub = periods.submit_period(quarterly, org.staff_a, when("2027-01-05T10:00:00"), result="一季度")
    db.session.commit()
    login_as(org.mgr_a)
    html = client.get("/").get_data(as_text=True)
    assert f'data-period-result="{sub.id}"' in html and "2027年第一季度" in html
    for who in ("staff_a", "mgr_b"):
        login_as(org.users[who])
        assert f'data-period-result="{sub.id}"' not in client.get("/").get_data(as_text=True)
    in_english(org.mgr_a_2, login_as)  # the period's name in the reader's language
    html = client.get("/").get_data(as_text=True)
    assert f'data-period-result="{sub.id}"' in html and "2027 Q1" in html


def test_the_report_counts_period_close_outs_and_missed_periods(org, make):
    from tracker.reports import section as wording
    from tracker.reports.services import rectification_figures

    make.clock = when("2026-07-10T09:00:00")
    monthly = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None,
                        period=PeriodKind.MONTH)
    db.session.commit()
    for month in ("2026-07-01", "2026-09-01"):
        sub = periods.submit_period(monthly, org.staff_a, when(f"{month[:8]}28T10:00:00"), result="已落实",
                                    period_start=month)
        periods.decide_period(sub, org.mgr_a, when(f"{month[:8]}29T10:00:00"), approve=True)
    db.session.commit()
    # July and September verified; August (ended 08-31) and October (ended 10-31) missed as of 11-05.
    f = rectification_figures(org.mgr_root, org.root, date(2026, 1, 1), date(2026, 12, 31),
                              when("2026-11-05T10:00:00"))
    assert (f.periodic_measures, f.periods_closed, f.periods_missed) == (1, 2, 2)
    assert f.to_dict()["periods"] == {"measures": 1, "closed": 2, "missed": 2}
    zh = wording.build_text(wording.render_section(f, "zh_CN"))
    assert "对1项长期坚持的整改措施实行阶段性销号，本期阶段性销号2次，未按期报送阶段成效2期。" in zh
    en = wording.build_text(wording.render_section(f, "en"))
    assert ("For 1 ongoing measure closed out period by period, 2 period results were verified and 2 periods "
            "went unreported.") in en, en
    # Up to 09-15: July verified, August missed; September not over yet, its close-out later.
    f = rectification_figures(org.mgr_root, org.root, date(2026, 5, 1), date(2026, 9, 15),
                              when("2026-11-05T10:00:00"))
    assert (f.periods_closed, f.periods_missed) == (1, 1)


def test_the_missed_filter_on_the_list_and_in_the_api(client, org, login_as, quarterly, make, api):  # noqa: F811
    make.clock = when("2026-11-10T09:00:00")
    reported = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None,
                         period=PeriodKind.QUARTER)
    periods.submit_period(reported, org.staff_a, when("2027-01-02T10:00:00"), result="四季度已落实",
                          period_start="2026-10-01")
    db.session.commit()
    login_as(org.mgr_a)
    html = client.get("/tasks", query_string={"period_missed": "1"}).get_data(as_text=True)
    assert set(re.findall(r'data-task="(\d+)"', html)) == {str(quarterly.id)}
    items = api(org.mgr_a).get("/tasks", period_missed="true").get_json()["items"]
    assert [t["id"] for t in items] == [quarterly.id]

