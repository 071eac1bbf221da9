"""多级审核 end to end in real headless Chromium, in both languages: the branch's manager sets a
three-step chain in the editor; the owner submits; step 1 passes it; the leader at step 2 sends it
back to step 1 with a reason; step 1 (another manager) and step 2 pass it; the root's manager rates it
满意 and closes it. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from browser_support import shot
from test_browser import login, logout

from tracker.enums import TaskState
from tracker.extensions import db
from tracker.review.models import Rating
from tracker.tasks import services as tasks
from tracker.tasks.models import Task

pytestmark = pytest.mark.browser


def decide(page, server, task, selector, before=None):
    page.goto(f"{server.url}/tasks/{task.id}")
    if before:
        before()
    page.click(selector)
    page.wait_for_url(re.compile(rf".*/tasks/{task.id}$"))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_three_step_chain_end_to_end(page, live_server, org, make, clock, lang):
    server = live_server
    for user in org.users.values():
        user.language = lang
    task = make.task(org.mgr_a, owner=org.staff_a, measure="规范党建工作纪实")
    db.session.commit()

    # The manager of A sets the chain: managers of A → the leader by name → managers of the root.
    login(page, server, org.mgr_a)
    page.click("#ledger-menu")
    page.click("#review-chains-link")
    page.click("[data-edit='A']")
    page.select_option("select[name='steps-0-kind']", "unit")
    page.select_option("select[name='steps-0-reviewer_unit']", str(org.a.id))
    page.fill("input[name='steps-0-title']", "科室负责人审核")
    page.select_option("select[name='steps-1-kind']", "person")
    page.select_option("select[name='steps-1-reviewer']", str(org.viewer_root.id))
    page.fill("input[name='steps-1-title']", "分管领导审核")
    page.select_option("select[name='steps-2-kind']", "unit")
    page.select_option("select[name='steps-2-reviewer_unit']", str(org.root.id))
    page.fill("input[name='steps-2-title']", "督办部门审核")
    shot(page, f"chain-{lang}-01-editor")
    page.click("#save-chain")
    page.wait_for_url(re.compile(r".*/review-chains$"))
    assert page.locator("tr[data-unit='A'][data-steps='3']").count() == 1
    assert page.locator("tr[data-unit='A1'][data-steps='3']").count() == 1  # inherited
    shot(page, f"chain-{lang}-02-list")
    logout(page)

    # The owner submits (through the service: the page for it is covered by test_browser).
    tasks.submit(task, org.staff_a, clock, result="已统一使用党建工作纪实本")
    db.session.commit()

    login(page, server, org.mgr_a)
    assert page.locator(f"#to-verify [data-task='{task.id}'] [data-review-step='1']").count() == 1
    decide(page, server, task, "#pass-button")
    logout(page)

    # The leader (a read-only user named in the chain) sends it back to step 1.
    login(page, server, org.viewer_root)
    assert page.locator(f"#to-verify [data-task='{task.id}'] [data-review-step='2']").count() == 1
    page.goto(f"{server.url}/tasks/{task.id}")
    assert page.locator("#review-steps [data-step='2'][aria-current='step']").count() == 1
    shot(page, f"chain-{lang}-03-leader")
    page.fill("textarea[name='return-comment']", "请补充交叉检查记录")
    page.click("#return-button")  # the confirmation dialog is accepted by the fixture
    page.wait_for_url(re.compile(rf".*/tasks/{task.id}$"))
    logout(page)

    for user in (org.mgr_a_2, org.viewer_root):
        login(page, server, user)
        decide(page, server, task, "#pass-button")
        logout(page)

    login(page, server, org.mgr_root)
    page.goto(f"{server.url}/tasks/{task.id}")
    page.select_option("select[name='verify-rating']", "satisfied")
    page.fill("textarea[name='verify-comment']", "整改到位")
    page.click("#verify-button")
    page.wait_for_url(re.compile(rf".*/tasks/{task.id}$"))
    assert page.locator("#review-steps [data-decision='return']").count() == 1
    assert page.locator("#review-steps [data-decision='pass']").count() == 3
    assert page.locator("#review-steps [data-decision='verify']").count() == 1
    shot(page, f"chain-{lang}-04-closed")
    db.session.expire_all()
    closed = db.session.get(Task, task.id)
    assert closed.state == TaskState.CLOSED and closed.rating == Rating.SATISFIED
