"""阶段性销号 and 回头看 end to end in real headless Chromium, in both languages: the owner reports the
quarter's result with a file and the manager verifies it (the measure stays open); a manager schedules
a re-check of a closed measure and the leader records a rebound, which reopens it as round 2.
Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re
from datetime import date

import pytest
from browser_support import shot
from conftest import Factory, when
from test_browser import login, logout

from tracker.enums import TaskState, TaskType
from tracker.extensions import db
from tracker.followup.models import PeriodKind, PeriodState, TaskPeriod
from tracker.tasks import services as tasks
from tracker.tasks.models import Task

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_period_close_out_and_a_rebound(page, live_server, org, clock, lang, tmp_path):
    server = live_server
    for user in org.users.values():
        user.language = lang
    early = Factory(when("2026-03-10T09:00:00"))
    problem = early.problem(org.mgr_a, org.a, found_on=date(2026, 3, 1))
    ongoing = early.task(org.mgr_a, problem, owner=org.staff_a, type=TaskType.ONGOING, deadline=None,
                         period=PeriodKind.QUARTER, measure="支部书记每季度讲一次党课")
    closed = early.task(org.mgr_a, problem, owner=org.staff_a, measure="规范档案管理",
                        deadline=date(2026, 6, 30))
    tasks.submit(closed, org.staff_a, clock, result="档案已整理归档")
    tasks.verify(closed, org.mgr_a, clock)
    db.session.commit()

    # The owner reports the second quarter with a file.
    login(page, server, org.staff_a)
    page.goto(f"{server.url}/tasks/{ongoing.id}")
    assert page.locator("#periods [data-period='2026-01-01'][class='table-danger']").count() == 1  # Q1 missed
    record = tmp_path / "党课记录.pdf"
    record.write_bytes(b"%PDF-1.4 q2")
    page.select_option("select[name='submit_period-period_start']", "2026-04-01")
    page.fill("textarea[name='submit_period-result']", "第二季度党课已讲授")
    page.set_input_files("input[name='submit_period-files']", str(record))
    page.click("#form-submit-period button[type=submit]")
    page.wait_for_url(re.compile(rf".*/tasks/{ongoing.id}$"))
    assert page.locator("#periods [data-period='2026-04-01'] [data-state='submitted']").count() == 1
    shot(page, f"followup-{lang}-01-period-submitted")
    logout(page)

    login(page, server, org.mgr_a)
    sub = db.session.query(TaskPeriod).one()
    page.goto(f"{server.url}/tasks/{ongoing.id}")
    page.fill(f"[data-decide-period='{sub.id}'] textarea", "同意")
    page.click(f"[data-decide-period='{sub.id}'] button[name$='approve']")
    page.wait_for_url(re.compile(rf".*/tasks/{ongoing.id}.*"))
    assert page.locator("#periods [data-period='2026-04-01'] [data-state='verified']").count() == 1
    shot(page, f"followup-{lang}-02-period-verified")
    db.session.expire_all()
    assert db.session.get(TaskPeriod, sub.id).state == PeriodState.VERIFIED
    assert db.session.get(Task, ongoing.id).state == TaskState.IN_PROGRESS

    # The manager schedules a re-check of the closed measure, the leader as reviewer.
    page.goto(f"{server.url}/tasks/{closed.id}")
    page.fill("input[name='recheck-due_on']", "2026-07-15")
    page.select_option("select[name='recheck-reviewer']", str(org.viewer_root.id))
    page.click("#schedule-recheck")
    page.wait_for_url(re.compile(rf".*/tasks/{closed.id}.*"))
    assert page.locator("#rechecks [data-state='scheduled']").count() == 1
    logout(page)

    login(page, server, org.viewer_root)
    assert page.locator("#recheck-queue").count() == 1
    page.goto(f"{server.url}/tasks/{closed.id}")
    page.select_option("#form-record-recheck select", "rebounded")
    page.fill("#form-record-recheck textarea", "档案又出现缺页，问题反弹")
    page.fill("#form-record-recheck input[type=date]", "2026-08-31")
    page.click("#record-recheck")  # the confirmation dialog is accepted by the fixture
    page.wait_for_url(re.compile(rf".*/tasks/{closed.id}.*"))
    assert page.locator("#task-round").count() == 1 and page.locator("#rounds [data-round='1']").count() == 1
    shot(page, f"followup-{lang}-03-rebounded")
    db.session.expire_all()
    reopened = db.session.get(Task, closed.id)
    assert reopened.round == 2 and reopened.state == TaskState.IN_PROGRESS
    page.goto(f"{server.url}/problems/{reopened.problem_id}")
    assert page.locator("[data-rebounded='1']").count() >= 1
