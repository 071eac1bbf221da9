"""The whole loop in real headless Chromium: 问题清单 → 整改清单 → progress → submit → reject → verify.

Driven through the real forms (CSRF on) of a live server; screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from browser_support import shot
from conftest import PASSWORD

from tracker.enums import ProblemState, TaskState
from tracker.extensions import db
from tracker.problems.models import Problem
from tracker.tasks.models import Evidence, Task

pytestmark = pytest.mark.browser


def login(page, server, user):
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/$"))


def logout(page):
    page.click("#user-menu")
    page.click("#logout")
    page.wait_for_url(re.compile(r".*/login$"))


def select_label(page, selector, text):
    """Choose the option whose label contains `text` (labels carry tree indentation)."""
    value = page.eval_on_selector(
        selector,
        "(el, text) => [...el.options].find(o => o.textContent.includes(text)).value",
        text,
    )
    page.select_option(selector, value)


def open_task(page, server, task_id):
    page.goto(f"{server.url}/tasks/{task_id}")


def test_manager_and_staff_close_out_a_problem(page, live_server, org, make, tmp_path):
    server = live_server
    make.source(org.a, name="2026年度组织生活会")
    db.session.commit()

    # Manager records a problem with two measures.
    login(page, server, org.mgr_a)
    shot(page, "01-manager-home")
    page.goto(f"{server.url}/problems/new")
    page.fill("textarea[name=description]", "理论学习不够深入系统，存在浅尝辄止现象。")
    page.select_option("select[name=category]", index=1)
    select_label(page, "select[name=source]", "2026年度组织生活会")
    select_label(page, "select[name=unit]", "第一党支部")
    select_label(page, "select[name=lead_unit]", "第一党支部")
    page.fill("input[name=found_on]", "2026-06-10")
    page.fill("textarea[name='measures-0-measure']", "制定年度理论学习计划，每月集中学习不少于1次")
    select_label(page, "select[name='measures-0-owner']", "张三")
    select_label(page, "select[name='measures-0-unit']", "第一党支部")
    page.fill("input[name='measures-0-deadline']", "2026-07-31")
    page.click("#add-measure-row")
    page.fill("textarea[name='measures-1-measure']", "建立学习笔记季度检查制度")
    select_label(page, "select[name='measures-1-owner']", "张三")
    select_label(page, "select[name='measures-1-unit']", "第一党支部")
    page.fill("input[name='measures-1-deadline']", "2026-08-31")
    shot(page, "02-problem-form")
    page.click("#save-problem")
    page.wait_for_url(re.compile(r".*/problems/\d+$"))
    shot(page, "03-problem-page")
    problem = db.session.scalar(sa.select(Problem).order_by(Problem.id.desc()))
    first, second = sorted(problem.tasks, key=lambda t: t.id)
    assert [t.state for t in (first, second)] == [TaskState.ASSIGNED, TaskState.ASSIGNED]
    logout(page)

    # Staff posts progress with a file, then submits both measures.
    evidence = tmp_path / "学习计划.pdf"
    evidence.write_bytes(b"%PDF-1.4 minimal evidence")
    login(page, server, org.staff_a)
    assert page.locator("text=制定年度理论学习计划").count() >= 1
    shot(page, "04-staff-home")
    open_task(page, server, first.id)
    page.fill("#form-progress textarea", "已起草年度学习计划，报支委会审议。")
    page.set_input_files("#form-progress input[type=file]", str(evidence))
    page.click("#form-progress button[type=submit]")
    page.wait_for_selector("text=学习计划.pdf")
    for task in (first, second):
        open_task(page, server, task.id)
        page.fill("#form-submit textarea", "学习计划已印发，已开展集中学习2次。")
        page.click("#form-submit button[type=submit]")
        page.wait_for_selector("#task-state [data-state=submitted]")
    shot(page, "05-staff-submitted")
    logout(page)

    # Manager returns the first measure once.
    login(page, server, org.mgr_a)
    open_task(page, server, first.id)
    page.fill("#form-reject textarea", "请补充集中学习签到表。")
    page.click("#reject-button")
    page.wait_for_selector("#task-state [data-state=in_progress]")
    logout(page)

    # Staff resubmits.
    login(page, server, org.staff_a)
    open_task(page, server, first.id)
    page.fill("#form-submit textarea", "已补充签到表，集中学习3次。")
    page.click("#form-submit button[type=submit]")
    page.wait_for_selector("#task-state [data-state=submitted]")
    logout(page)

    # Manager verifies both; both lists show them closed.
    login(page, server, org.mgr_a)
    for task in (first, second):
        open_task(page, server, task.id)
        page.click("#verify-button")
        page.wait_for_selector("#task-state [data-state=closed]")
    shot(page, "06-task-closed")
    page.goto(f"{server.url}/tasks?q={problem.number}")
    assert page.locator("tbody [data-state=closed]").count() == 2
    shot(page, "07-rectification-list")
    page.goto(f"{server.url}/problems?q={problem.number}")
    assert page.locator("tbody [data-state=closed]").count() == 1
    shot(page, "08-problem-list")

    db.session.expire_all()
    assert db.session.get(Problem, problem.id).state == ProblemState.CLOSED
    assert {t.state for t in db.session.scalars(sa.select(Task).where(Task.problem_id == problem.id))} == {
        TaskState.CLOSED}
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id)).where(Evidence.task_id == first.id)) == 1


def test_ui_in_both_languages(page, live_server, org, make):
    server = live_server
    login(page, server, org.mgr_a)
    assert page.locator("nav").inner_text().count("整改清单") == 1
    assert "我的任务" in page.title()
    page.click("#language-menu")
    page.click("button[data-lang=en]")
    page.wait_for_selector("text=Rectification list")
    assert "My tasks" in page.title()
    for path, name in (("/", "en-home"), ("/problems", "en-problems"), ("/tasks", "en-tasks"),
                       ("/responsibilities", "en-responsibilities")):
        page.goto(server.url + path)
        shot(page, name)
        assert not re.search(r"[\u4e00-\u9fff]{2,}", page.locator("nav .me-auto").inner_text())
        assert not re.search(r"[\u4e00-\u9fff]{2,}", page.locator("h1").first.inner_text())
    # The choice is stored on the user: a new session comes back in English.
    logout(page)
    login(page, server, org.mgr_a)
    assert "My tasks" in page.title()
    page.click("#language-menu")
    page.click("button[data-lang=zh_CN]")
    page.wait_for_selector("text=整改清单")
    assert "我的任务" in page.title()
